from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from lxml import etree

from emrex_emc.core import pipeline
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.identity import ExpectedIdentity
from emrex_emc.core.pipeline import declared_encoding, verify_elmo
from emrex_emc.core.policy import PipelinePolicy
from emrex_emc.local.elmo_factory import SigningIdentity, build_elmo, encode_elmo, make_pdf, sign_elmo
from tests.core.conftest import BIRTH_DATE

POLICY = PipelinePolicy()


def test_accepted_result_has_the_canonical_shape(signed_sha256: bytes, emp_identity: SigningIdentity) -> None:
    result = verify_elmo(encode_elmo(signed_sha256), [emp_identity.cert_der], POLICY)
    out = result.to_json()
    assert out["verified"] is True
    assert out["elmo_version"] == "v1"
    assert out["signature"]["certificate"]["subject"] == "CN=Test EMP"
    assert out["elmo"]["learner"]["family_name"] == "de Vries"
    assert out["identity"] is None
    assert out["warnings"] == []
    json.dumps(out)


def test_summary_carries_no_personal_data(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    verified = verify_elmo(signed_xml, [emp_identity.cert_pem], POLICY)
    summary = verified.document.summary.to_json()
    assert summary["course_count"] == 3
    assert [notice.code for notice in verified.notices] == ["SIGNATURE_SHA1"]
    assert "Vries" not in json.dumps(summary) and "2001-02-03" not in json.dumps(summary)


@pytest.mark.parametrize(
    ("given", "family", "verdict"),
    [("Maria Anna", "de Vries", "MATCH"), ("Eve", "Mallory", "MISMATCH")],
)
def test_identity_verdict_is_attached_not_a_refusal(
    given: str, family: str, verdict: str, signed_xml: bytes, emp_identity: SigningIdentity
) -> None:
    expected = ExpectedIdentity(given_names=given, family_name=family, birth_date=BIRTH_DATE)
    result = verify_elmo(signed_xml, [emp_identity.cert_pem], POLICY, expected=expected)
    assert result.identity is not None and result.identity.verdict == verdict
    assert result.to_json()["identity"]["verdict"] == verdict


def test_attachments_come_with_their_content(emp_identity: SigningIdentity) -> None:
    pdf = make_pdf(3000)
    xml = build_elmo(given_names="A", family_name="B", birth_date=BIRTH_DATE, courses=1, pdf_bytes=pdf)
    result = verify_elmo(sign_elmo(xml, emp_identity, style="ds-sha256-inclusive"), [emp_identity.cert_pem], POLICY)
    [(attachment, content)] = result.document.contents()
    assert content.data == pdf and content.sha256 == hashlib.sha256(pdf).hexdigest()
    assert attachment.type == "EMREX transcript"


def test_the_reader_only_sees_the_verified_tree(
    monkeypatch: pytest.MonkeyPatch, signed_xml: bytes, emp_identity: SigningIdentity
) -> None:
    seen: list[etree._Element] = []
    real = pipeline.read_elmo

    def spy(root: etree._Element) -> Any:
        seen.append(root)
        return real(root)

    monkeypatch.setattr(pipeline, "read_elmo", spy)
    commented = signed_xml.replace(b"<familyName>", b"<!--x--><familyName>", 1)
    assert commented != signed_xml
    verify_elmo(commented, [emp_identity.cert_pem], POLICY)
    assert seen[0].find("{http://www.w3.org/2000/09/xmldsig#}Signature") is None
    assert not list(seen[0].iter(etree.Comment))


def _latin1_document(identity: SigningIdentity, *, tamper: bool = False) -> bytes:
    xml = build_elmo(given_names="Søren", family_name="Ærø", birth_date=BIRTH_DATE, courses=1)
    root = etree.fromstring(sign_elmo(xml, identity, style="ds-sha256-inclusive"))
    latin1 = etree.tostring(root, xml_declaration=True, encoding="ISO-8859-1")
    latin1 = latin1.replace(b"encoding='ISO-8859-1'", b"encoding='UTF-8'", 1)
    return latin1.replace(b"S\xf8ren", b"S\xf8rensen", 1) if tamper else latin1


def test_latin1_bytes_declared_utf8_are_accepted_when_the_signature_verifies(emp_identity: SigningIdentity) -> None:
    result = verify_elmo(encode_elmo(_latin1_document(emp_identity)), [emp_identity.cert_pem], POLICY)
    assert result.document.learner.given_names == "Søren"
    assert "ENCODING_LATIN1_FALLBACK" in {n.code for n in result.notices}


def test_latin1_fallback_is_refused_when_the_signature_fails(emp_identity: SigningIdentity) -> None:
    with pytest.raises(EmrexError) as info:
        verify_elmo(_latin1_document(emp_identity, tamper=True), [emp_identity.cert_pem], POLICY)
    assert info.value.code is ErrorCode.ENCODING_INVALID
    assert "SIGNATURE_DIGEST_MISMATCH" not in info.value.message and "changed after signing" in info.value.message


def test_no_latin1_retry_for_other_declared_encodings(emp_identity: SigningIdentity) -> None:
    document = '<?xml version="1.0" encoding="US-ASCII"?><elmo>Ærø</elmo>'.encode("latin-1")
    with pytest.raises(EmrexError) as info:
        verify_elmo(document, [emp_identity.cert_pem], POLICY)
    assert info.value.code is ErrorCode.ENCODING_INVALID


def test_declared_encoding() -> None:
    assert declared_encoding(b"<?xml version='1.0' encoding='UTF-8'?><a/>") == "utf-8"
    assert declared_encoding(b"<a/>") is None


def test_garbage_certificate_is_refused(signed_xml: bytes) -> None:
    with pytest.raises(EmrexError) as info:
        verify_elmo(signed_xml, [b"not a certificate"], POLICY)
    assert info.value.code is ErrorCode.CERTIFICATE_INVALID


def test_now_decides_certificate_validity(signed_xml: bytes, emp_identity: SigningIdentity) -> None:
    future = dt.datetime(2100, 1, 1)
    result = verify_elmo(signed_xml, [emp_identity.cert_pem], POLICY, now=future)
    assert "CERT_OUTSIDE_VALIDITY" in {n.code for n in result.notices}
