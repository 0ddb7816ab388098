from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from emrex_emc.cli import main
from emrex_emc.local.elmo_factory import SigningIdentity, build_elmo, encode_elmo, generate_signing_identity, sign_elmo


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return generate_signing_identity("CLI EMP")


@pytest.fixture
def files(tmp_path: Path, identity: SigningIdentity) -> dict[str, Path]:
    xml = build_elmo(given_names="Jan", family_name="Jansen", birth_date=dt.date(2000, 5, 6), courses=2)
    signed = sign_elmo(xml, identity)
    paths = {
        "payload": tmp_path / "elmo.txt",
        "xml": tmp_path / "elmo.xml",
        "tampered": tmp_path / "tampered.xml",
        "pem": tmp_path / "emp.pem",
        "der": tmp_path / "emp.der",
        "garbage": tmp_path / "garbage.pem",
    }
    paths["payload"].write_text(encode_elmo(signed))
    paths["xml"].write_bytes(signed)
    paths["tampered"].write_bytes(signed.replace(b"Jansen", b"Janssen", 1))
    paths["pem"].write_bytes(identity.cert_pem)
    paths["der"].write_bytes(identity.cert_der)
    paths["garbage"].write_bytes(b"hello")
    return paths


def test_accepted_prints_a_human_summary(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(files["payload"]), "--cert", str(files["pem"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VERIFIED: ELMO v1, signed with rsa-sha1")
    assert "warning SIGNATURE_SHA1" in out


def test_json_with_expectations_and_der_certificate(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["verify", str(files["xml"]), "--cert", str(files["der"]), "--json"]
    expect = ["--expect-given-names", "Jan", "--expect-family-name", "Jansen", "--expect-birth-date", "2000-05-06"]
    assert main(args + expect) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verified"] is True and out["identity"]["verdict"] == "MATCH"


def test_identity_mismatch_still_exits_zero(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["verify", str(files["xml"]), "--cert", str(files["pem"])]
    expect = ["--expect-given-names", "Eve", "--expect-family-name", "Mallory", "--expect-birth-date", "1999-01-01"]
    assert main(args + expect) == 0
    assert "identity: MISMATCH" in capsys.readouterr().out


def test_several_certificates_for_key_rollover(files: dict[str, Path], tmp_path: Path) -> None:
    old = tmp_path / "old.pem"
    old.write_bytes(generate_signing_identity("Old").cert_pem)
    assert main(["verify", str(files["xml"]), "--cert", str(old), "--cert", str(files["pem"])]) == 0


def test_refused_exits_one_with_code_and_reason(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(files["tampered"]), "--cert", str(files["pem"]), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "verified": False,
        "error": {
            "code": "SIGNATURE_DIGEST_MISMATCH",
            "message": "the signature is genuine but the document was changed after signing (digest mismatch)",
        },
    }
    assert captured.err.startswith("REFUSED SIGNATURE_DIGEST_MISMATCH: ")


@pytest.mark.parametrize(
    ("flag", "code"), [("--forbid-sha1", "SIGNATURE_ALGORITHM_FORBIDDEN"), (None, "CERTIFICATE_INVALID")]
)
def test_policy_flags_and_bad_certificates(
    flag: str | None, code: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cert = files["pem"] if flag else files["garbage"]
    assert main(["verify", str(files["xml"]), "--cert", str(cert), *([flag] if flag else [])]) == 1
    assert f"REFUSED {code}" in capsys.readouterr().err


def test_strict_cert_validity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = generate_signing_identity(
        "Expired", not_before=dt.datetime(2010, 1, 1, tzinfo=dt.UTC), not_after=dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
    )
    doc, cert = tmp_path / "doc.xml", tmp_path / "cert.pem"
    doc.write_bytes(sign_elmo(build_elmo(given_names="A", family_name="B", birth_date=dt.date(2000, 1, 1)), old))
    cert.write_bytes(old.cert_pem)
    assert main(["verify", str(doc), "--cert", str(cert)]) == 0
    assert "CERT_OUTSIDE_VALIDITY" in capsys.readouterr().out
    assert main(["verify", str(doc), "--cert", str(cert), "--strict-cert-validity"]) == 1
    assert "REFUSED CERTIFICATE_EXPIRED" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [
        ["--expect-given-names", "Jan"],
        ["--expect-given-names", "Jan", "--expect-family-name", "J", "--expect-birth-date", "06-05-2000"],
        ["--cert", "/does/not/exist.pem"],
    ],
    ids=["partial-expectations", "bad-date", "unreadable-cert"],
)
def test_usage_errors_exit_two(extra: list[str], files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(files["xml"]), "--cert", str(files["pem"]), *extra]) == 2
    assert "emrex-emc verify: error:" in capsys.readouterr().err


def test_unreadable_payload_and_missing_cert_flag(files: dict[str, Path]) -> None:
    assert main(["verify", "/does/not/exist", "--cert", str(files["pem"])]) == 2
    with pytest.raises(SystemExit) as info:
        main(["verify", str(files["xml"])])
    assert info.value.code == 2


def test_the_cli_module_does_not_import_lxml_or_signxml() -> None:
    import subprocess

    code = "import sys, emrex_emc.commands.verify; print('lxml' in sys.modules, 'signxml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
