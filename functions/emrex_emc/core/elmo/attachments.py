"""Attachment ``content`` decoding: data URIs or bare base64, MIME type sniffed from the bytes."""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from emrex_emc.core.text import clip

OCTET_STREAM = "application/octet-stream"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
)
_ALIASES = {
    "text/xml": "application/xml",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip",
}
_ZIP_CONTAINERS = ("application/vnd.openxmlformats-", "application/vnd.oasis.opendocument.", "application/epub+zip")
_WHITESPACE = b" \t\n\r\f\v"
_DATA_URI = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),", re.IGNORECASE)
MAX_MIME_TYPE_CHARS = 100
"""A declared MIME type is kept (and shown in notices) up to this length; real ones are far shorter."""


class AttachmentDecodeError(ValueError):
    """The content is neither a data URI nor base64."""


@dataclass(frozen=True)
class DecodedContent:
    data: bytes
    declared_mime_type: str | None
    encoding: str
    """``data_uri`` or ``base64``."""

    @property
    def mime_type(self) -> str:
        return sniff_mime_type(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _strict_b64decode(text: str | bytes) -> bytes | None:
    """Canonical base64 (alphabet only, padded, no whitespace) decoded in one C pass; None for anything else.

    Whatever this accepts, the tolerant path below decodes to the same bytes; what it refuses goes there.
    """
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):  # ValueError: a str with non-ASCII characters
        return None


def _b64decode(text: str) -> bytes:
    decoded = _strict_b64decode(text)  # the usual content: one unbroken base64 string
    if decoded is not None:
        return decoded
    compact = text.encode("ascii", "replace").translate(None, _WHITESPACE)
    compact += b"=" * (-len(compact) % 4)
    decoded = _strict_b64decode(compact)  # line-wrapped or unpadded
    if decoded is not None:
        return decoded
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttachmentDecodeError("the content is not valid base64") from exc


def decode_content(text: str) -> DecodedContent:
    """Decode ``data:<mime>[;base64],<data>`` or bare base64 (whitespace and missing padding tolerated)."""
    stripped = text.strip()
    match = _DATA_URI.match(stripped)
    if match is None:
        if not stripped:
            raise AttachmentDecodeError("the content is empty")
        return DecodedContent(_b64decode(stripped), None, "base64")
    mime = clip(match.group("mime").lower(), MAX_MIME_TYPE_CHARS) or None
    params = [p.strip().lower() for p in match.group("params").split(";") if p.strip()]
    payload = stripped[match.end() :]
    is_base64 = "base64" in params
    data = _b64decode(payload) if is_base64 else unquote_to_bytes(payload)
    return DecodedContent(data, mime, "data_uri")


def _looks_like_text(data: bytes) -> bool:
    try:  # incremental: a multi-byte character cut at the end of the sniffed head is fine
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\n\r\f" for ch in text)


def sniff_mime_type(data: bytes) -> str:
    """MIME type from the bytes: PDF, PNG, JPEG, GIF, ZIP, XML, plain text, else octet-stream."""
    for magic, mime in _SIGNATURES:
        if data.startswith(magic):
            return mime
    head = data[:4096]
    text_head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text_head.startswith(b"<?xml") or (text_head.startswith(b"<") and _looks_like_text(head)):
        return "application/xml"
    if data and _looks_like_text(head):
        return "text/plain"
    return OCTET_STREAM


def mime_types_agree(declared: str | None, sniffed: str) -> bool:
    """Whether a declared MIME type is consistent with the sniffed one (generic declarations always are)."""
    if declared is None or declared == OCTET_STREAM:
        return True
    declared = _ALIASES.get(declared, declared)
    if declared == sniffed:
        return True
    if sniffed == "application/zip":
        return declared.startswith(_ZIP_CONTAINERS) or declared.endswith("+zip")
    if sniffed == "application/xml":
        return declared.endswith("+xml")
    if sniffed == "text/plain":
        return declared.startswith("text/")
    return False
