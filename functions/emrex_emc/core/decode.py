"""Step 1 of the trust pipeline: the posted ``elmo`` form value -> XML bytes.

Accepted shapes (emrex-protocol.md §3): base64 of gzip (the standard), base64 of plain XML (the
Norwegian gateway sample), raw XML (a file given to the CLI, the EMP mock-up) and raw gzip. Base64 may
contain whitespace and line breaks and may lack its padding; anything outside the standard alphabet is
refused. Every cap of :class:`~emrex_emc.core.policy.DecodeLimits` is enforced while streaming, so a
gzip bomb is stopped long before it is inflated.
"""

from __future__ import annotations

import binascii
import zlib

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.policy import DecodeLimits

GZIP_MAGIC = b"\x1f\x8b"
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_WHITESPACE = b" \t\r\n\f\v"
_INPUT_CHUNK = 64 * 1024
_OUTPUT_CHUNK = 256 * 1024
RATIO_CHECK_FLOOR = 1024 * 1024
"""The compression ratio is checked once this many bytes were inflated: tiny documents may compress
very well, a bomb is always caught after at most this much output."""


def decode_elmo_value(value: str | bytes, limits: DecodeLimits) -> bytes:
    """Return the XML bytes carried by ``value`` or raise :class:`EmrexError` with a decoding code."""
    data = _as_bytes(value)
    if len(data) > limits.max_encoded_bytes:
        raise EmrexError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the elmo value has {len(data)} bytes, more than the limit of {limits.max_encoded_bytes}",
        )
    stripped = data.lstrip(_WHITESPACE)
    if not stripped:
        raise EmrexError(ErrorCode.PAYLOAD_EMPTY, "the elmo value is empty")
    if _looks_like_xml(stripped):
        return _check_plain_size(data.strip(_WHITESPACE), limits)
    if stripped.startswith(GZIP_MAGIC):
        return gunzip_bounded(stripped.rstrip(_WHITESPACE), limits)
    decoded = decode_base64_tolerant(stripped)
    if decoded.startswith(GZIP_MAGIC):
        return gunzip_bounded(decoded, limits)
    return _check_plain_size(decoded, limits)


def decode_base64_tolerant(data: bytes) -> bytes:
    """Standard-alphabet base64; whitespace anywhere and missing ``=`` padding are tolerated."""
    compact = data.translate(None, _WHITESPACE)
    body = compact.rstrip(b"=")
    if len(compact) - len(body) > 2:
        raise EmrexError(ErrorCode.BASE64_INVALID, "the base64 elmo value has more than two padding characters")
    if len(body) % 4 == 1:
        raise EmrexError(ErrorCode.BASE64_INVALID, "the base64 elmo value is truncated (its length is impossible)")
    try:
        return binascii.a2b_base64(body + b"=" * (-len(body) % 4), strict_mode=True)
    except binascii.Error as exc:
        raise EmrexError(
            ErrorCode.BASE64_INVALID,
            "the elmo value is neither XML nor base64: it contains characters outside the base64 alphabet",
        ) from exc


def gunzip_bounded(compressed: bytes, limits: DecodeLimits) -> bytes:
    """Inflate one gzip member in bounded steps, refusing as soon as a cap is crossed."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    output: list[bytes] = []
    produced = 0
    fed = 0
    try:
        while fed < len(compressed) and not inflater.eof:
            pending = compressed[fed : fed + _INPUT_CHUNK]
            fed += len(pending)
            while pending and not inflater.eof:
                piece = inflater.decompress(pending, _OUTPUT_CHUNK)
                pending = inflater.unconsumed_tail
                produced += len(piece)
                _check_inflation(produced, fed - len(pending), limits)
                output.append(piece)
    except zlib.error as exc:
        raise EmrexError(ErrorCode.GZIP_INVALID, f"the gzip data is corrupt ({exc})") from exc
    if not inflater.eof:
        raise EmrexError(ErrorCode.GZIP_INVALID, "the gzip data is truncated (the stream ends before its trailer)")
    if inflater.unused_data.strip(b"\0") or fed < len(compressed):
        raise EmrexError(ErrorCode.GZIP_INVALID, "unexpected data follows the end of the gzip stream")
    return b"".join(output)


def _check_inflation(produced: int, consumed: int, limits: DecodeLimits) -> None:
    if produced > limits.max_decompressed_bytes:
        raise EmrexError(
            ErrorCode.DECOMPRESSED_TOO_LARGE,
            f"the decompressed document exceeds the limit of {limits.max_decompressed_bytes} bytes",
        )
    if produced > RATIO_CHECK_FLOOR and produced > limits.max_compression_ratio * max(consumed, 1):
        raise EmrexError(
            ErrorCode.COMPRESSION_RATIO_EXCEEDED,
            f"the gzip data expands more than {limits.max_compression_ratio} times (a compression bomb?)",
        )


def _check_plain_size(data: bytes, limits: DecodeLimits) -> bytes:
    if len(data) > limits.max_decompressed_bytes:
        raise EmrexError(
            ErrorCode.DECOMPRESSED_TOO_LARGE,
            f"the document exceeds the limit of {limits.max_decompressed_bytes} bytes",
        )
    return data


def _as_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        pass
    if not _looks_like_xml(value.lstrip()[:1].encode("utf-8", "replace")):
        raise EmrexError(
            ErrorCode.BASE64_INVALID, "the elmo value is neither XML nor base64: it contains non-ASCII characters"
        )
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no encoding can represent it
        raise EmrexError(
            ErrorCode.ENCODING_INVALID, "the XML text contains a lone surrogate, which no encoding can represent"
        ) from None


def _looks_like_xml(data: bytes) -> bool:
    return data.startswith(b"<") or data.startswith(_BOMS)
