from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

from emrex_emc.core.elmo.attachments import AttachmentDecodeError, decode_content, mime_types_agree, sniff_mime_type
from emrex_emc.core.elmo.primitives import preferred_text
from emrex_emc.core.elmo.reader import read_elmo

Build = Callable[..., etree._Element]
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"PK\x03\x04\x14\x00", "application/zip"),
        (b"\xef\xbb\xbf<?xml version='1.0'?><a/>", "application/xml"),
        (b"  <elmo/>", "application/xml"),
        ("Transcript \u2013 Høst\n".encode(), "text/plain"),
        (b"\x00\x01\x02binary", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_mime_type_is_sniffed_from_bytes(data: bytes, mime: str) -> None:
    assert sniff_mime_type(data) == mime


def test_text_cut_inside_a_multibyte_character_is_still_text() -> None:
    assert sniff_mime_type(("a" * 4095 + "ø").encode()) == "text/plain"


def test_data_uri_with_whitespace_and_missing_padding() -> None:
    encoded = b64(PDF).rstrip("=")
    wrapped = "\n  ".join(encoded[i : i + 10] for i in range(0, len(encoded), 10))
    decoded = decode_content(f"  data:application/pdf;base64,{wrapped}\n")
    assert decoded.data == PDF
    assert (decoded.declared_mime_type, decoded.encoding, decoded.mime_type) == (
        "application/pdf",
        "data_uri",
        "application/pdf",
    )
    assert decoded.sha256 == hashlib.sha256(PDF).hexdigest()


def test_data_uri_with_parameters_and_percent_encoding() -> None:
    assert decode_content("data:application/pdf;name=x.pdf;base64," + b64(PDF)).data == PDF
    assert decode_content("data:text/plain;charset=utf-8,H%C3%B8st").data == "Høst".encode()


def test_bare_base64_is_tolerated() -> None:
    decoded = decode_content(b64(PNG))
    assert (decoded.encoding, decoded.declared_mime_type, decoded.mime_type) == ("base64", None, "image/png")


@pytest.mark.parametrize("text", ["", "   ", "not base64 at all!", "data:application/pdf;base64,iiNh...", "QUJD=QUJD"])
def test_undecodable_content_is_refused(text: str) -> None:
    with pytest.raises(AttachmentDecodeError):
        decode_content(text)


def _tolerant_b64decode(text: str) -> bytes | None:
    """The specification: whitespace removed, missing padding added, then only the base64 alphabet."""
    compact = text.encode("ascii", "replace").translate(None, b" \t\n\r\f\v")
    try:
        return base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


@given(st.text(alphabet="QUJDRA+/=xyz019 \n\t\r-_ø", max_size=40))
@example("QUJD")  # canonical: the one-pass strict decoder
@example("QUJ")  # unpadded: the tolerant path
@example("QU\nJD")  # wrapped
@example("QUJD=QUJD")  # padding inside: refused by every path
@example("QQ==QQ==")
@example("QUJDø")  # non-ASCII
@example("=QUJ")
@example("QQ===")
def test_base64_content_decodes_as_the_tolerant_specification(text: str) -> None:
    content = f"data:application/pdf;base64,{text}"
    expected = _tolerant_b64decode(text)
    if expected is None:
        with pytest.raises(AttachmentDecodeError):
            decode_content(content)
    else:
        assert decode_content(content).data == expected


@pytest.mark.parametrize(
    ("declared", "sniffed", "agree"),
    [
        ("application/pdf", "application/pdf", True),
        (None, "application/pdf", True),
        ("application/octet-stream", "image/png", True),
        ("image/jpg", "image/jpeg", True),
        ("text/xml", "application/xml", True),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip", True),
        ("text/html", "text/plain", True),
        ("application/pdf", "application/octet-stream", False),
        ("application/pdf", "image/png", False),
        ("image/png", "application/zip", False),
    ],
)
def test_declared_and_sniffed_types(declared: str | None, sniffed: str, agree: bool) -> None:
    assert mime_types_agree(declared, sniffed) is agree


def _attachment(content: str, lang: str = "") -> str:
    lang_attr = f" xml:lang='{lang}'" if lang else ""
    return (
        "<attachment><identifier type='internal'>a1</identifier><title xml:lang='en'>Transcript</title>"
        "<type>EMREX transcript</type><description>desc</description>"
        f"<content{lang_attr}>{content}</content></attachment>"
    )


def test_report_and_top_level_attachments_with_content(build: Build) -> None:
    report_attachment = _attachment("data:image/png;base64," + b64(PNG))
    top = _attachment("data:application/pdf;base64," + b64(PDF), lang="en")
    document = read_elmo(build(report_extra=report_attachment, top=top))
    [top_attachment] = document.attachments
    assert top_attachment.identifiers[0].value == "a1"
    assert top_attachment.type == "EMREX transcript"
    assert top_attachment.descriptions[0].value == "desc"
    items = document.contents()
    assert [(content.index, content.mime_type, content.data) for _, content in items] == [
        (0, "image/png", PNG),
        (1, "application/pdf", PDF),
    ]
    attachment, content = items[1]
    assert content.to_json() == {
        "index": 1,
        "lang": "en",
        "mime_type": "application/pdf",
        "declared_mime_type": "application/pdf",
        "encoding": "data_uri",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    assert (attachment.type, preferred_text(attachment.titles)) == ("EMREX transcript", "Transcript")
    assert document.summary.attachment_count == 2
    assert document.notices == ()
    assert b64(PDF) not in str(document.to_json())


def test_mismatch_bare_base64_and_invalid_content_become_notices(build: Build) -> None:
    top = (
        _attachment("data:application/pdf;base64," + b64(PNG))
        + _attachment(b64(PDF))
        + _attachment("data:application/pdf;base64,@@@")
    )
    document = read_elmo(build(top=top))
    codes = [n.code for n in document.notices]
    assert codes == ["ATTACHMENT_MIME_MISMATCH", "ATTACHMENT_BARE_BASE64", "ATTACHMENT_INVALID"]
    assert "declared application/pdf but its bytes look like image/png" in document.notices[0].message
    assert [len(a.contents) for a in document.attachments] == [1, 1, 0]
    assert document.attachments[0].contents[0].mime_type == "image/png"  # the sniffed type is what we report


def test_a_declared_mime_type_is_clipped_in_its_notice(build: Build) -> None:
    declared = "application/" + "x" * 5000 + "\n\u202eforged"
    top = _attachment(f"data:{declared};base64,{b64(PDF)}")
    [notice] = read_elmo(build(top=top)).notices
    assert notice.code == "ATTACHMENT_MIME_MISMATCH"
    assert len(notice.message) < 300 and "\n" not in notice.message and "\u202e" not in notice.message


def test_notices_of_one_code_are_capped(build: Build) -> None:
    top = "".join(_attachment(b64(PDF + bytes([i]))) for i in range(25))
    notices = read_elmo(build(top=top)).notices
    assert len(notices) == 21
    assert notices[-1].message == "5 more ATTACHMENT_BARE_BASE64 notices were left out"


def test_real_danish_transcript_pdf(load: Callable[[str], etree._Element]) -> None:
    document = read_elmo(
        load("test-vectors/dk-kmd-2017/elmo-tomcat-signed-beautified.xml")
    )  # content ends in whitespace
    [(_, content)] = document.contents()
    data = content.data
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    assert content.size == len(data) and content.sha256 == hashlib.sha256(data).hexdigest()
