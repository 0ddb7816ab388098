"""Every real test vector of ../shared/elmo gives the README's verdict, through the core API and the CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from emrex_emc.cli import main
from emrex_emc.core import certs
from emrex_emc.core.decode import decode_elmo_value
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.pipeline import verify_elmo
from emrex_emc.core.policy import DecodeLimits, PipelinePolicy, VerificationPolicy, XmlLimits
from emrex_emc.core.signature import verify_enveloped
from emrex_emc.core.xmlsafe import parse_xml
from tests.core.conftest import VECTORS

DK_CERT = VECTORS / "dk-kmd-2017" / "kmd-signing-cert.EXTRACTED.pem"
NO_CERT = VECTORS / "no-sikt-gateway-2023" / "emrex-test.vitnemalsportalen.no.EXTRACTED.pem"
FI_CERT = VECTORS / "fi-csc-kaisa-2015" / "csc-cert.crt"
FI_VECTOR = VECTORS / "fi-csc-kaisa-2015" / "elmo_vastaus_base64_gzipped.txt"

VALID = {
    "dk-kmd-2017/elmo-tomcat-signed.xml": False,
    "dk-kmd-2017/elmo-tomcat-signed-zipped-base64.txt": False,
    "dk-kmd-2017/elmo-wl-signed-zipped-base64.txt": True,  # Latin-1 under a UTF-8 declaration
}
INVALID = {
    "dk-kmd-2017/elmo-wl-signed.xml": (DK_CERT, ErrorCode.SIGNATURE_DIGEST_MISMATCH),
    "dk-kmd-2017/elmo-tomcat-signed-beautified.xml": (DK_CERT, ErrorCode.SIGNATURE_INVALID),
    "dk-kmd-2017/elmo-tomcat-unsigned.xml": (DK_CERT, ErrorCode.SIGNATURE_MISSING),
    "no-sikt-gateway-2023/sampleElmo.b64": (NO_CERT, ErrorCode.SIGNATURE_INVALID),
    "fi-csc-kaisa-2015/elmo_vastaus_base64_gzipped.txt": (FI_CERT, ErrorCode.UNSUPPORTED_FORMAT),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_vectors_through_the_core(name: str) -> None:
    result = verify_elmo((VECTORS / name).read_bytes(), [DK_CERT.read_bytes()], PipelinePolicy())
    codes = {notice.code for notice in result.notices}
    assert result.signature.sha1 and "SIGNATURE_SHA1" in codes
    assert ("ENCODING_LATIN1_FALLBACK" in codes) is VALID[name]
    assert result.document.version == "v1"
    assert result.document.summary.course_count > 0


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_vectors_through_the_core(name: str) -> None:
    cert, code = INVALID[name]
    with pytest.raises(EmrexError) as info:
        verify_elmo((VECTORS / name).read_bytes(), [cert.read_bytes()], PipelinePolicy())
    assert info.value.code is code


def test_finnish_2015_signature_verifies_with_the_expiry_flagged() -> None:
    root = parse_xml(decode_elmo_value(FI_VECTOR.read_bytes(), DecodeLimits()), XmlLimits())
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    signed, facts = verify_enveloped(root, certs.load_certificates(FI_CERT.read_bytes()), VerificationPolicy(), now)
    assert signed.tag == "{http://purl.org/net/elmo}elmo"
    assert {"CERT_OUTSIDE_VALIDITY", "SIGNATURE_SHA1"} <= {notice.code for notice in facts.notices}


def test_latin1_vector_is_refused_when_tampered() -> None:
    xml = decode_elmo_value((VECTORS / "dk-kmd-2017/elmo-wl-signed-zipped-base64.txt").read_bytes(), DecodeLimits())
    tampered = xml.replace(b"<ns0:resultLabel>", b"<ns0:resultLabel>1", 1)
    assert tampered != xml
    with pytest.raises(EmrexError) as info:
        verify_elmo(tampered, [DK_CERT.read_bytes()], PipelinePolicy())
    assert info.value.code is ErrorCode.ENCODING_INVALID


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_vectors_through_the_cli(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(VECTORS / name), "--cert", str(DK_CERT), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verified"] is True
    assert out["signature"]["algorithm"] == "rsa-sha1"
    assert ("ENCODING_LATIN1_FALLBACK" in {w["code"] for w in out["warnings"]}) is VALID[name]


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_vectors_through_the_cli(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    cert, code = INVALID[name]
    assert main(["verify", str(VECTORS / name), "--cert", str(cert), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["code"] == code.value
    assert code.value in captured.err
