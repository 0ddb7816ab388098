"""Attacker-sized values never travel on: each one is clipped where it is put into an error or a notice.

Measured before: a 450,000-character Reference ``URI`` made a 300 KB rejection event. Each test feeds one
such value (with terminal and bidi controls) and checks that the refusal or notice is short, clean, and
still says the fixed part of its sentence (the value was clipped where it was interpolated, so the
message did not have to be cut by the backstop in :class:`~emrex_emc.core.errors.EmrexError`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from lxml import etree

from emrex_emc.core.elmo.attachments import MAX_MIME_TYPE_CHARS
from emrex_emc.core.elmo.conformance import check_conformance
from emrex_emc.core.elmo.reader import read_elmo
from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.pipeline import verify_elmo
from emrex_emc.core.policy import PipelinePolicy
from emrex_emc.core.text import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, is_clean
from emrex_emc.local.elmo_factory import SigningIdentity, build_elmo, sign_elmo
from tests.core.conftest import BIRTH_DATE, SHARED_ELMO, identity_with_subject

pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")  # cryptography, long CN

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DS = {"ds": DS_NS}
HUGE = "\x9b2J\u202e" + "u" * 450_000
"""450,000 characters led by a C1 CSI and a bidi override (the only controls XML lets through)."""
NAME = "n" * 40_000
"""A long element name (libxml2 refuses names over 50,000 characters without its huge-tree mode)."""
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def refusal(payload: bytes, certificates: list[bytes]) -> EmrexError:
    with pytest.raises(EmrexError) as info:
        verify_elmo(payload, certificates, PipelinePolicy(), now=NOW)
    return info.value


def assert_short_and_clean(message: str, *, ends_with: str = "") -> None:
    assert is_clean(message), message[:300]
    assert len(message) < MAX_MESSAGE_CHARS, len(message)
    assert message.endswith(ends_with), message


def edit(xml: bytes, change: Callable[[etree._Element], object]) -> bytes:
    root = etree.fromstring(xml)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _set(path: str, attribute: str) -> Callable[[etree._Element], object]:
    return lambda root: root.find(path, DS).set(attribute, HUGE)


@pytest.mark.parametrize(
    ("change", "code", "ends_with"),
    [
        (_set("ds:Signature/ds:SignedInfo/ds:Reference", "URI"), ErrorCode.SIGNATURE_REFERENCE_INVALID, "…'"),
        (
            _set("ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod", "Algorithm"),
            ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN,
            "is not allowed",
        ),
        (
            _set("ds:Signature/ds:SignedInfo/ds:SignatureMethod", "Algorithm"),
            ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN,
            "is not allowed",
        ),
        (
            _set("ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestMethod", "Algorithm"),
            ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN,
            "is not allowed",
        ),
        (
            _set("ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform", "Algorithm"),
            ErrorCode.SIGNATURE_TRANSFORM_FORBIDDEN,
            "(only enveloped-signature and C14N are allowed)",
        ),
    ],
    ids=["reference-uri", "c14n-algorithm", "signature-algorithm", "digest-algorithm", "transform-algorithm"],
)
def test_huge_signature_attributes(  # type: ignore[no-untyped-def]
    signed_sha256: bytes, emp_identity: SigningIdentity, change, code, ends_with
) -> None:
    error = refusal(edit(signed_sha256, change), [emp_identity.cert_pem])
    assert error.code is code
    assert_short_and_clean(error.message, ends_with=ends_with)


@pytest.fixture(scope="module")
def huge_subject_identity() -> SigningIdentity:
    return identity_with_subject("\x1b[2J\u202e" + "s" * 100_000)


def test_huge_subject_of_an_untrusted_keyinfo_certificate(
    unsigned_xml: bytes, emp_identity: SigningIdentity, huge_subject_identity: SigningIdentity
) -> None:
    error = refusal(sign_elmo(unsigned_xml, huge_subject_identity), [emp_identity.cert_pem])
    assert error.code is ErrorCode.SIGNATURE_UNTRUSTED_KEY
    assert_short_and_clean(error.message, ends_with=")")
    assert "KeyInfo certificate CN= [2J sss" in error.message and ", SHA-256 " in error.message


def test_huge_subject_of_the_registry_certificate_is_clipped_in_the_facts(
    unsigned_xml: bytes, huge_subject_identity: SigningIdentity
) -> None:
    result = verify_elmo(
        sign_elmo(unsigned_xml, huge_subject_identity), [huge_subject_identity.cert_pem], PipelinePolicy()
    )
    subject = result.signature.certificate_subject
    assert subject.startswith("CN= [2J sss") and len(subject) == MAX_FIELD_CHARS and is_clean(subject)


def test_huge_root_namespace(emp_identity: SigningIdentity) -> None:
    xml = build_elmo(given_names="A", family_name="B", birth_date=BIRTH_DATE, courses=1)
    namespace = "urn:x-" + "u" * 450_000  # a namespace must be a URI: no controls here
    foreign = xml.replace(b"https://github.com/emrex-eu/elmo-schemas/tree/v1", namespace.encode("ascii"))
    error = refusal(sign_elmo(foreign, emp_identity), [emp_identity.cert_pem])
    assert error.code is ErrorCode.UNSUPPORTED_FORMAT
    assert_short_and_clean(error.message)
    assert error.message.endswith("https://github.com/emrex-eu/elmo-schemas/tree/v2")  # the list of supported ones


def test_long_root_element_name(emp_identity: SigningIdentity) -> None:
    error = refusal(f"<{NAME}/>".encode(), [emp_identity.cert_pem])
    assert error.code is ErrorCode.NOT_ELMO
    assert_short_and_clean(error.message, ends_with=">, not <elmo>")


def test_long_element_name_around_an_injected_comment(signed_sha256: bytes, emp_identity: SigningIdentity) -> None:
    def comment_in_text(root: etree._Element) -> None:
        holder = etree.SubElement(root, NAME)
        holder.text = "de"
        holder.append(etree.Comment("x"))
        holder[0].tail = "Vries"

    error = refusal(edit(signed_sha256, comment_in_text), [emp_identity.cert_pem])
    assert error.code is ErrorCode.COMMENT_IN_SIGNED_TEXT
    assert_short_and_clean(error.message, ends_with="comments inside values are a known attack on signed documents")


def test_long_element_name_holding_a_stray_signature(signed_sha256: bytes, emp_identity: SigningIdentity) -> None:
    def stray(root: etree._Element) -> None:
        etree.SubElement(root, NAME).append(etree.Element(f"{{{DS_NS}}}Signature"))

    error = refusal(edit(signed_sha256, stray), [emp_identity.cert_pem])
    assert error.code is ErrorCode.SIGNATURE_MISPLACED
    assert_short_and_clean(error.message, ends_with="is allowed)")


def test_huge_text_quoted_by_the_xml_parser(emp_identity: SigningIdentity) -> None:
    error = refusal(f"<elmo><{NAME}></elmo>".encode(), [emp_identity.cert_pem])
    assert error.code is ErrorCode.XML_MALFORMED
    assert_short_and_clean(error.message)
    assert error.message.startswith("the document is not well-formed XML: ")


@pytest.mark.skipif(not (SHARED_ELMO / "elmo-schemas").is_dir(), reason="shared ELMO schemas not found")
def test_long_element_name_in_an_xsd_violation() -> None:
    xml = build_elmo(given_names="A", family_name="B", birth_date=BIRTH_DATE, courses=1)
    root = etree.fromstring(xml.replace(b"</report>", f"<{NAME}/></report>".encode()))
    notices = check_conformance(root, "v1", str(SHARED_ELMO))
    assert notices and all(notice.code == "XSD_VIOLATION" for notice in notices)
    for notice in notices:
        assert_short_and_clean(notice.message)
        assert notice.message.startswith("line ")


def test_huge_declared_attachment_type_in_a_reader_notice() -> None:
    xml = build_elmo(given_names="A", family_name="B", birth_date=BIRTH_DATE, courses=1, pdf_bytes=b"%PDF-1.4 x")
    root = etree.fromstring(xml)
    content = root.find("{*}attachment/{*}content")
    content.text = "data:" + HUGE + ";base64," + (content.text or "").partition(",")[2]
    document = read_elmo(root)
    [mismatch] = [n for n in document.notices if n.code == "ATTACHMENT_MIME_MISMATCH"]
    assert_short_and_clean(mismatch.message, ends_with="but its bytes look like application/pdf")
    [attachment_content] = document.attachments[0].contents
    declared = attachment_content.declared_mime_type
    assert declared is not None and len(declared) == MAX_MIME_TYPE_CHARS and is_clean(declared)


def test_a_notice_made_anywhere_is_bounded_by_the_backstop() -> None:
    message = Notice("XSD_VIOLATION", HUGE).message
    assert is_clean(message) and len(message) == MAX_MESSAGE_CHARS
