from __future__ import annotations

import copy
import datetime as dt

import pytest
from cryptography import x509
from lxml import etree

from emrex_emc.core import signature
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.policy import VerificationPolicy, XmlLimits
from emrex_emc.core.signature import DS_NS, verify_enveloped
from emrex_emc.core.text import is_clean
from emrex_emc.core.xmlsafe import parse_xml
from emrex_emc.local.elmo_factory import SigningIdentity, generate_signing_identity, sign_elmo
from tests.adapters.conftest import make_certificate
from tests.core.mutations import sign_signed_info

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
POLICY = VerificationPolicy()
DS = {"ds": DS_NS}


def verify(xml: bytes, identities: list[SigningIdentity], policy: VerificationPolicy = POLICY):  # type: ignore[no-untyped-def]
    return verify_enveloped(parse_xml(xml, XmlLimits()), [i.certificate for i in identities], policy, NOW)


def refused(xml: bytes, identities: list[SigningIdentity], policy: VerificationPolicy = POLICY) -> EmrexError:
    with pytest.raises(EmrexError) as info:
        verify(xml, identities, policy)
    return info.value


def edit_signature(xml: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    root = etree.fromstring(xml)
    edit(root.find("ds:Signature", DS))
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("java-sha1-inclusive", ("rsa-sha1", "sha1", "c14n", True)),
        ("ds-sha256-exclusive", ("rsa-sha256", "sha256", "exc-c14n", False)),
        ("ds-sha256-inclusive", ("rsa-sha256", "sha256", "c14n", False)),
    ],
)
def test_every_emp_style_verifies_with_facts(  # type: ignore[no-untyped-def]
    unsigned_xml: bytes, emp_identity: SigningIdentity, style, expected
) -> None:
    signed, facts = verify(sign_elmo(unsigned_xml, emp_identity, style=style), [emp_identity])
    assert etree.QName(signed).localname == "elmo"
    assert signed.find(".//{*}Signature") is None
    facts_json = facts.to_json()
    assert (facts_json["algorithm"], facts_json["digest"], facts_json["c14n"], facts.sha1) == expected
    assert facts.certificate_subject == "CN=Test EMP"
    assert ("SIGNATURE_SHA1" in {n.code for n in facts.notices}) is expected[3]


def test_sha1_is_refused_when_the_policy_forbids_it(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    error = refused(signed_xml, [emp_identity], VerificationPolicy(forbid_sha1=True))
    assert error.code is ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN


def test_sha256_passes_a_forbid_sha1_policy(signed_sha256: bytes, emp_identity: SigningIdentity) -> None:
    _, facts = verify(signed_sha256, [emp_identity], VerificationPolicy(forbid_sha1=True))
    assert not facts.sha1


def test_key_rollover_tries_every_registry_certificate(
    signed_xml: bytes, emp_identity: SigningIdentity, other_identity: SigningIdentity
) -> None:
    _, facts = verify(signed_xml, [other_identity, emp_identity])
    assert facts.certificate_sha256 == verify(signed_xml, [emp_identity])[1].certificate_sha256


def test_no_registry_certificate(signed_xml: bytes) -> None:
    assert refused(signed_xml, []).code is ErrorCode.NO_TRUSTED_CERTIFICATE


@pytest.fixture(scope="module")
def expired_identity() -> SigningIdentity:
    return generate_signing_identity(
        "Old EMP", not_before=dt.datetime(2015, 1, 1, tzinfo=dt.UTC), not_after=dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
    )


def test_expired_registry_certificate_is_accepted_with_a_notice(
    unsigned_xml: bytes, expired_identity: SigningIdentity
) -> None:
    _, facts = verify(sign_elmo(unsigned_xml, expired_identity), [expired_identity])
    assert "CERT_OUTSIDE_VALIDITY" in {n.code for n in facts.notices}


def test_expired_registry_certificate_is_refused_under_strict_validity(
    unsigned_xml: bytes, expired_identity: SigningIdentity
) -> None:
    error = refused(
        sign_elmo(unsigned_xml, expired_identity), [expired_identity], VerificationPolicy(strict_cert_validity=True)
    )
    assert error.code is ErrorCode.CERTIFICATE_EXPIRED


def _set_algorithm(path: str, value: str):  # type: ignore[no-untyped-def]
    return lambda sig: sig.find(path, DS).set("Algorithm", value)


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (_set_algorithm("ds:SignedInfo/ds:CanonicalizationMethod", "http://www.w3.org/2006/12/xml-c14n11"),
         ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN),
        (_set_algorithm("ds:SignedInfo/ds:SignatureMethod", "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
         ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN),
        (_set_algorithm("ds:SignedInfo/ds:Reference/ds:DigestMethod", "http://www.w3.org/2001/04/xmldsig-more#md5"),
         ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN),
        (lambda sig: sig.find("ds:SignedInfo/ds:Reference", DS).set("URI", "#elmo"),
         ErrorCode.SIGNATURE_REFERENCE_INVALID),
        (lambda sig: sig.find("ds:SignedInfo/ds:Reference", DS).attrib.pop("URI"),
         ErrorCode.SIGNATURE_REFERENCE_INVALID),
        (lambda sig: sig.find("ds:SignedInfo", DS).append(etree.fromstring(
            etree.tostring(sig.find("ds:SignedInfo/ds:Reference", DS)))),
         ErrorCode.SIGNATURE_REFERENCE_INVALID),
        (_set_algorithm("ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform",
                        "http://www.w3.org/TR/1999/REC-xpath-19991116"),
         ErrorCode.SIGNATURE_TRANSFORM_FORBIDDEN),
        (lambda sig: sig.find("ds:SignedInfo/ds:Reference/ds:Transforms", DS).remove(
            sig.find("ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform", DS)),
         ErrorCode.SIGNATURE_TRANSFORM_FORBIDDEN),
    ],
    ids=["c14n11", "hmac", "md5", "id-reference", "no-uri", "two-references", "xpath-transform", "no-enveloped"],
)  # fmt: skip
def test_shape_is_checked_before_crypto(  # type: ignore[no-untyped-def]
    signed_sha256: bytes, emp_identity: SigningIdentity, edit, code
) -> None:
    assert refused(edit_signature(signed_sha256, edit), [emp_identity]).code is code


def test_comments_are_not_part_of_the_verified_tree(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    """Comments are outside inclusive C14N: injected ones keep the signature valid but never reach the reader."""
    injected = signed_xml.replace(b"<familyName>de Vries<", b"<familyName>de<!-- x --> Vries<", 1)
    assert injected != signed_xml
    original = parse_xml(injected, XmlLimits())
    assert original.find(".//{*}familyName").text == "de"
    signed, _ = verify(injected, [emp_identity])
    assert signed.find(".//{*}familyName").text == "de Vries"
    assert not list(signed.iter(etree.Comment))


def _set_text(path: str, value: str | None):  # type: ignore[no-untyped-def]
    return lambda sig: setattr(sig.find(path, DS), "text", value)


def _duplicate(path: str):  # type: ignore[no-untyped-def]
    return lambda sig: sig.find(path, DS).addnext(copy.deepcopy(sig.find(path, DS)))


def _text_after_signature(sig: etree._Element) -> None:
    sig.tail = "unsigned words"


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (_set_text("ds:SignatureValue", None), ErrorCode.SIGNATURE_INVALID),  # was TypeError inside signxml
        (_set_text("ds:SignatureValue", " \n "), ErrorCode.SIGNATURE_INVALID),
        (_set_text("ds:SignatureValue", "QUJD\u00e9"), ErrorCode.SIGNATURE_INVALID),  # was ValueError (non-ASCII)
        (lambda sig: sig.remove(sig.find("ds:SignatureValue", DS)), ErrorCode.SIGNATURE_INVALID),
        (_duplicate("ds:SignatureValue"), ErrorCode.SIGNATURE_INVALID),
        (_set_text("ds:SignedInfo/ds:Reference/ds:DigestValue", None), ErrorCode.SIGNATURE_REFERENCE_INVALID),
        (_set_text("ds:SignedInfo/ds:Reference/ds:DigestValue", "@@@@"), ErrorCode.SIGNATURE_REFERENCE_INVALID),
        (_duplicate("ds:SignedInfo/ds:Reference/ds:DigestValue"), ErrorCode.SIGNATURE_REFERENCE_INVALID),
        (_text_after_signature, ErrorCode.SIGNATURE_DIGEST_MISMATCH),  # was XMLSyntaxError inside signxml
    ],
    ids=[
        "empty-signature-value",
        "blank-signature-value",
        "non-ascii-signature-value",
        "no-signature-value",
        "two-signature-values",
        "empty-digest-value",
        "non-base64-digest-value",
        "two-digest-values",
        "text-added-after-signature",
    ],
)
def test_values_signxml_would_trip_over_are_refused_with_a_precise_code(  # type: ignore[no-untyped-def]
    signed_sha256: bytes, emp_identity: SigningIdentity, edit, code
) -> None:
    assert refused(edit_signature(signed_sha256, edit), [emp_identity]).code is code


def test_a_line_wrapped_signature_value_still_verifies(signed_sha256: bytes, emp_identity: SigningIdentity) -> None:
    def wrap(sig: etree._Element) -> None:  # the SignatureValue is outside SignedInfo: its layout is not signed
        value = sig.find("ds:SignatureValue", DS)
        text = value.text or ""
        value.text = "\n" + "\r\n".join(text[i : i + 20] for i in range(0, len(text), 20)) + "\n"

    signed, _ = verify(edit_signature(signed_sha256, wrap), [emp_identity])
    assert etree.QName(signed).localname == "elmo"


def test_a_registry_certificate_with_another_key_type_is_skipped(
    signed_xml: bytes, emp_identity: SigningIdentity
) -> None:
    """signxml refused an EC certificate outright, so the right RSA certificate after it was never tried."""
    without_hint = edit_signature(signed_xml, lambda sig: sig.remove(sig.find("ds:KeyInfo", DS)))
    ec_certificate = x509.load_der_x509_certificate(make_certificate("EC EMP"))
    root = parse_xml(without_hint, XmlLimits())
    _, facts = verify_enveloped(root, [ec_certificate, emp_identity.certificate], POLICY, NOW)
    assert facts.certificate_subject == "CN=Test EMP"
    only_ec = refused_with(without_hint, [ec_certificate])
    assert only_ec.code is ErrorCode.SIGNATURE_INVALID


def test_an_unforeseen_signxml_failure_is_a_clean_signature_invalid(
    monkeypatch: pytest.MonkeyPatch, signed_sha256: bytes, emp_identity: SigningIdentity
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("internal \x1b[2J" + "k" * 10_000)

    monkeypatch.setattr(signature._OwnTreeVerifier, "verify", broken)
    error = refused(signed_sha256, [emp_identity])
    assert error.code is ErrorCode.SIGNATURE_INVALID
    assert error.message.startswith("the signature cannot be verified: internal [2Jkkk")
    assert is_clean(error.message) and len(error.message) < 400


def refused_with(xml: bytes, certificates: list[x509.Certificate]) -> EmrexError:
    with pytest.raises(EmrexError) as info:
        verify_enveloped(parse_xml(xml, XmlLimits()), certificates, POLICY, NOW)
    return info.value


def test_two_canonicalization_transforms_are_refused_even_when_signed(
    signed_sha256: bytes, emp_identity: SigningIdentity
) -> None:
    """An EMP could sign such a Reference; signxml then tried to canonicalize bytes (TypeError)."""

    def second_c14n(sig: etree._Element) -> None:
        transform = sig.find("ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]", DS)
        transform.addnext(copy.deepcopy(transform))

    root = etree.fromstring(edit_signature(signed_sha256, second_c14n))
    assert sign_signed_info(root, emp_identity.key_pem)
    error = refused(etree.tostring(root), [emp_identity])
    assert error.code is ErrorCode.SIGNATURE_TRANSFORM_FORBIDDEN
    assert error.message == "the Reference may use one canonicalization transform at most"


def test_signed_text_after_the_signature_verifies(unsigned_xml: bytes, emp_identity: SigningIdentity) -> None:
    """Text the signer placed after its Signature is signed content: signxml failed to re-read it."""
    root = etree.fromstring(sign_elmo(unsigned_xml.replace(b"</elmo>", b"trailing words</elmo>"), emp_identity))
    signature = root.find("ds:Signature", DS)
    before = signature.getprevious()
    signature.tail, before.tail = before.tail, None  # the same text, now after the Signature
    assert signature.tail == "trailing words"
    signed, _ = verify(etree.tostring(root), [emp_identity])
    assert signed[-1].tail == "trailing words"


def test_non_ascii_element_and_attribute_names_verify(unsigned_xml: bytes, emp_identity: SigningIdentity) -> None:
    """signxml's ASCII copies turned such names into character references it could not re-read."""
    extended = unsigned_xml.replace(b"</learner>", "<notitie-ø kenmerk-é='1'>x</notitie-ø></learner>".encode(), 1)
    assert extended != unsigned_xml
    for style in ("java-sha1-inclusive", "ds-sha256-exclusive"):
        signed, _ = verify(sign_elmo(extended, emp_identity, style=style), [emp_identity])
        assert signed.find(".//{*}notitie-ø").get("kenmerk-é") == "1"
