"""The attack corpus: generated with a test key, each refused with its specific code through verify_elmo."""

from __future__ import annotations

import base64
import copy
import gzip
import zlib
from collections.abc import Callable

import pytest
from lxml import etree

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.pipeline import verify_elmo
from emrex_emc.core.policy import DecodeLimits, PipelinePolicy, VerificationPolicy
from emrex_emc.local.elmo_factory import SigningIdentity, encode_elmo, sign_elmo

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
POLICY = PipelinePolicy()


def code_of(payload: str | bytes, identity: SigningIdentity, policy: PipelinePolicy = POLICY) -> ErrorCode:
    with pytest.raises(EmrexError) as info:
        verify_elmo(payload, [identity.cert_pem], policy)
    return info.value.code


def rewrite(xml: bytes, edit: Callable[[etree._Element], object]) -> bytes:
    root = etree.fromstring(xml)
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def sig(root: etree._Element) -> etree._Element:
    found = root.find(f"{{{DS_NS}}}Signature")
    assert found is not None
    return found


def el(root: etree._Element, local: str) -> etree._Element:
    found = root.find(f".//{{*}}{local}")
    assert found is not None
    return found


def _ns(root: etree._Element, local: str) -> str:
    return f"{{{etree.QName(root).namespace}}}{local}"


# --- signature wrapping ------------------------------------------------------------------------------


def wrap_forged_root_around_signed_document(root: etree._Element) -> None:
    """Forged learner on the root; the signed original (with its signature) hidden in an extension."""
    original = copy.deepcopy(root)
    for child in list(root):
        root.remove(child)
    etree.SubElement(root, _ns(root, "learner")).text = "Mallory"
    etree.SubElement(root, _ns(root, "extension")).append(original)


def move_signature_into_extension(root: etree._Element) -> None:
    etree.SubElement(root, _ns(root, "extension")).append(sig(root))


def duplicate_signature_into_extension(root: etree._Element) -> None:
    etree.SubElement(root, _ns(root, "extension")).append(copy.deepcopy(sig(root)))


def signed_copy_inside_signature_object(root: etree._Element) -> None:
    """XSW: the signed original (minus its signature) inside ds:Object, the visible document forged."""
    original = copy.deepcopy(root)
    original.remove(sig(original))
    obj = etree.SubElement(sig(root), f"{{{DS_NS}}}Object")
    obj.append(original)
    el(root, "resultLabel").text = "10"


def reference_to_an_id(root: etree._Element) -> None:
    el(root, "learner").set("Id", "learner")
    el(sig(root), "Reference").set("URI", "#learner")


def second_reference(root: etree._Element) -> None:
    reference = el(sig(root), "Reference")
    reference.addnext(copy.deepcopy(reference))


def xpath_transform_selecting_nothing(root: etree._Element) -> None:
    transforms = el(sig(root), "Transforms")
    xpath = etree.SubElement(
        transforms, f"{{{DS_NS}}}Transform", Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"
    )
    etree.SubElement(xpath, f"{{{DS_NS}}}XPath").text = "not(ancestor-or-self::*)"


def forged_learner_before_the_signed_one(root: etree._Element) -> None:
    forged = copy.deepcopy(el(root, "learner"))
    el(forged, "familyName").text = "Mallory"
    el(root, "learner").addprevious(forged)


def signature_moved_to_a_nested_elmo(root: etree._Element) -> None:
    nested = etree.SubElement(root, _ns(root, "extension"))
    inner = etree.SubElement(nested, _ns(root, "elmo"))
    inner.append(sig(root))


WRAPPING = {
    "forged-root-around-signed-document": (wrap_forged_root_around_signed_document, ErrorCode.SIGNATURE_MISPLACED),
    "signature-moved-into-extension": (move_signature_into_extension, ErrorCode.SIGNATURE_MISPLACED),
    "signature-duplicated-into-extension": (duplicate_signature_into_extension, ErrorCode.SIGNATURE_MISPLACED),
    "signed-copy-in-ds-object": (signed_copy_inside_signature_object, ErrorCode.SIGNATURE_DIGEST_MISMATCH),
    "reference-to-an-id": (reference_to_an_id, ErrorCode.SIGNATURE_REFERENCE_INVALID),
    "second-reference": (second_reference, ErrorCode.SIGNATURE_REFERENCE_INVALID),
    "xpath-transform": (xpath_transform_selecting_nothing, ErrorCode.SIGNATURE_TRANSFORM_FORBIDDEN),
    "forged-learner-first": (forged_learner_before_the_signed_one, ErrorCode.SIGNATURE_DIGEST_MISMATCH),
    "signature-in-nested-elmo": (signature_moved_to_a_nested_elmo, ErrorCode.SIGNATURE_MISPLACED),
}


@pytest.mark.parametrize("name", sorted(WRAPPING))
def test_signature_wrapping_is_refused(name: str, signed_sha256: bytes, emp_identity: SigningIdentity) -> None:
    edit, code = WRAPPING[name]
    assert code_of(rewrite(signed_sha256, edit), emp_identity) is code


# --- tampering and keys ------------------------------------------------------------------------------


def test_tampered_grade(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    tampered = signed_xml.replace(b"<resultLabel>8</resultLabel>", b"<resultLabel>10</resultLabel>", 1)
    assert tampered != signed_xml
    assert code_of(tampered, emp_identity) is ErrorCode.SIGNATURE_DIGEST_MISMATCH


def test_signature_from_another_key(
    unsigned_xml: bytes, emp_identity: SigningIdentity, other_identity: SigningIdentity
) -> None:
    forged = rewrite(sign_elmo(unsigned_xml, other_identity), lambda root: sig(root).remove(el(sig(root), "KeyInfo")))
    assert code_of(forged, emp_identity) is ErrorCode.SIGNATURE_INVALID


def test_keyinfo_certificate_is_never_trusted(
    unsigned_xml: bytes, emp_identity: SigningIdentity, other_identity: SigningIdentity
) -> None:
    assert code_of(sign_elmo(unsigned_xml, other_identity), emp_identity) is ErrorCode.SIGNATURE_UNTRUSTED_KEY


def test_two_signatures(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    doubled = rewrite(signed_xml, lambda root: root.append(copy.deepcopy(sig(root))))
    assert code_of(doubled, emp_identity) is ErrorCode.SIGNATURE_MULTIPLE


def test_signature_moved_into_a_diploma_supplement(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    def move(root: etree._Element) -> None:
        loi = el(root, "learningOpportunityInstance")
        etree.SubElement(loi, _ns(root, "diplomaSupplement")).append(sig(root))

    assert code_of(rewrite(signed_xml, move), emp_identity) is ErrorCode.SIGNATURE_MISSING


@pytest.mark.parametrize(
    ("original", "injected"),
    [
        (b"<familyName>de Vries<", b"<familyName>de<!----> Vries<"),
        (b"<resultLabel>8<", b"<resultLabel><!-- 10 -->8<"),
    ],
    ids=["split-name", "grade-prefix"],
)
def test_comments_injected_into_signed_text(
    signed_xml: bytes, emp_identity: SigningIdentity, original: bytes, injected: bytes
) -> None:
    """Comments are outside the signed C14N, so the signature alone would still verify."""
    assert original in signed_xml
    assert code_of(signed_xml.replace(original, injected, 1), emp_identity) is ErrorCode.COMMENT_IN_SIGNED_TEXT


def test_comments_between_elements_are_harmless(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    commented = signed_xml.replace(b"<familyName>", b"<!-- learner data --><familyName>", 1)
    assert commented != signed_xml
    result = verify_elmo(commented, [emp_identity.cert_pem], POLICY)
    assert result.document.learner.family_name == "de Vries"


def test_sha1_under_a_forbid_policy(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    policy = PipelinePolicy(signature=VerificationPolicy(forbid_sha1=True))
    assert code_of(encode_elmo(signed_xml), emp_identity, policy) is ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN


def test_non_elmo_xml(emp_identity: SigningIdentity) -> None:
    other = sign_elmo(b"<invoice xmlns='urn:x'><total>1</total></invoice>", emp_identity)
    assert code_of(other, emp_identity) is ErrorCode.NOT_ELMO


# --- parser and decoder attacks ----------------------------------------------------------------------


def test_dtd_and_xxe(emp_identity: SigningIdentity) -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE elmo [<!ENTITY x SYSTEM "file:///etc/passwd">]><elmo>&x;</elmo>'
    assert code_of(encode_elmo(xxe), emp_identity) is ErrorCode.XML_FORBIDDEN_CONSTRUCT


def test_entity_expansion(emp_identity: SigningIdentity) -> None:
    entities = "".join(f'<!ENTITY l{i} "{"&l" + str(i - 1) + ";" * 1}' * 1 + '">' for i in range(1, 10))
    laughs = f'<!DOCTYPE elmo [<!ENTITY l0 "lol">{entities}]><elmo>&l9;</elmo>'.encode()
    assert code_of(encode_elmo(laughs), emp_identity) is ErrorCode.XML_FORBIDDEN_CONSTRUCT


def test_gzip_bomb(emp_identity: SigningIdentity) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(16)) + compressor.flush()
    assert code_of(base64.b64encode(bomb), emp_identity) is ErrorCode.COMPRESSION_RATIO_EXCEEDED


def test_oversize_input(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    policy = PipelinePolicy(decode=DecodeLimits(max_encoded_bytes=1000))
    assert code_of(encode_elmo(signed_xml), emp_identity, policy) is ErrorCode.PAYLOAD_TOO_LARGE


def test_broken_base64(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    payload = encode_elmo(signed_xml)
    assert code_of(payload[:100] + "!" + payload[100:], emp_identity) is ErrorCode.BASE64_INVALID


def test_truncated_gzip(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    compressed = gzip.compress(signed_xml)
    assert code_of(base64.b64encode(compressed[:-20]), emp_identity) is ErrorCode.GZIP_INVALID
