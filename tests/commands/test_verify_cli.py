from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from emrex_emc.cli import main
from emrex_emc.core.text import is_clean
from emrex_emc.local.elmo_factory import SigningIdentity, build_elmo, encode_elmo, generate_signing_identity, sign_elmo
from tests.core.conftest import identity_with_subject


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return generate_signing_identity("CLI EMP")


@pytest.fixture
def files(tmp_path: Path, identity: SigningIdentity) -> dict[str, Path]:
    # credits written 7,5: the --xsd-dir test has a conformance warning to show
    xml = build_elmo(
        given_names="Jan", family_name="Jansen", birth_date=dt.date(2000, 5, 6), courses=2, decimal_comma=True
    )
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
    assert main(["verify", str(files["xml"])]) == 2  # neither --cert nor --detached-jws/--public-key


def test_the_cli_module_does_not_import_lxml_or_signxml() -> None:
    import subprocess

    code = "import sys, emrex_emc.commands.verify; print('lxml' in sys.modules, 'signxml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# --- nothing from documents or certificates reaches the terminal raw; never a traceback -----------------

SHARED_ELMO = Path(__file__).resolve().parents[2].parent / "shared" / "elmo"
ESCAPES = "\x1b[2J\x9b2J\u202e"
"""ESC clears the screen (certificates may hold it), C1 CSI and a bidi override (XML text may hold those)."""


def assert_terminal_safe(text: str, *, line_limit: int = 800) -> None:
    for line in text.splitlines():
        assert is_clean(line), repr(line[:200])
        assert len(line) <= line_limit, len(line)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A document signed by a certificate whose CN is escapes plus 100 kB, with escapes in its own values."""
    identity = identity_with_subject(ESCAPES + "c" * 100_000)
    xml = build_elmo(
        given_names="Jan\x9b2J", family_name="Jansen\u202e", birth_date=dt.date(2000, 5, 6), pdf_bytes=b"%PDF-1.4 x"
    )
    xml = xml.replace(b"data:application/pdf;", ("data:image/\x9b2J" + "m" * 100_000 + ";").encode(), 1)
    folder = tmp_path_factory.mktemp("hostile")
    paths = {"xml": folder / "elmo.xml", "pem": folder / "emp.pem", "uri": folder / "uri.xml"}
    signed = sign_elmo(xml, identity, style="ds-sha256-exclusive")
    paths["xml"].write_bytes(signed)
    paths["pem"].write_bytes(identity.cert_pem)
    paths["uri"].write_bytes(signed.replace(b'URI=""', ('URI="\x9b2J' + "u" * 100_000 + '"').encode(), 1))
    return paths


@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
def test_accepted_output_is_terminal_safe(hostile: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(hostile["xml"]), "--cert", str(hostile["pem"])]) == 0
    captured = capsys.readouterr()
    assert_terminal_safe(captured.out + captured.err)
    assert "certificate: CN= [2J 2J ccc" in captured.out
    mismatch = "warning ATTACHMENT_MIME_MISMATCH: attachment content 0 is declared image/ 2jmmm"  # lower-cased
    assert mismatch in captured.out


@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
def test_json_output_escapes_every_control_character(
    hostile: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(hostile["xml"]), "--cert", str(hostile["pem"]), "--json"]) == 0
    out = capsys.readouterr().out
    assert_terminal_safe(out)
    result = json.loads(out)
    assert result["elmo"]["learner"]["given_names"] == "Jan\x9b2J"  # the data is whole, only escaped
    assert "\\u009b2J" in out and "\\u202e" in out
    assert len(result["signature"]["certificate"]["subject"]) <= 200
    assert all(len(warning["message"]) <= 600 for warning in result["warnings"])


@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_refusal_output_is_terminal_safe(
    hostile: dict[str, Path], capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    args = ["verify", str(hostile["uri"]), "--cert", str(hostile["pem"]), *(["--json"] if as_json else [])]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert_terminal_safe(captured.out + captured.err)
    assert captured.err.startswith("REFUSED SIGNATURE_REFERENCE_INVALID: the signature must sign the whole document")
    if as_json:
        assert json.loads(captured.out)["error"]["code"] == "SIGNATURE_REFERENCE_INVALID"


def test_an_empty_signature_value_is_a_refusal_not_a_traceback(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """signxml raises TypeError on an empty SignatureValue: the command refuses it with its code, no traceback."""
    emptied = tmp_path / "empty-signature-value.xml"
    xml = files["xml"].read_bytes()
    start = xml.index(b"<SignatureValue>") + len(b"<SignatureValue>")
    emptied.write_bytes(xml[:start] + xml[xml.index(b"</SignatureValue>") :])
    assert main(["verify", str(emptied), "--cert", str(files["pem"])]) == 1
    err = capsys.readouterr().err
    assert err == "REFUSED SIGNATURE_INVALID: the signature's SignatureValue is empty or not base64\n"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_files_are_read_no_further_than_the_limits(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "/dev/zero", "--cert", str(files["pem"])]) == 1
    assert capsys.readouterr().err.startswith("REFUSED PAYLOAD_TOO_LARGE: the file holds more than the limit of ")
    assert main(["verify", str(files["xml"]), "--cert", "/dev/zero"]) == 2
    assert "is larger than 1048576 bytes" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED_ELMO / "elmo-schemas").is_dir(), reason="shared ELMO schemas not found")
def test_xsd_dir_with_the_schemas_gives_conformance_warnings(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(files["xml"]), "--cert", str(files["pem"]), "--xsd-dir", str(SHARED_ELMO)]) == 0
    out = capsys.readouterr().out  # the document is on line 2, after its XML declaration
    assert "warning XSD_VIOLATION: line 2: Element 'value'" in out  # "7,5" ECTS is not an xs:decimal


@pytest.mark.parametrize("folder", ["empty", "not-a-folder", "partial"])
def test_xsd_dir_without_the_schemas_is_a_usage_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    xsd_dir = tmp_path / folder
    if folder == "empty":
        xsd_dir.mkdir()
    elif folder == "partial":
        (xsd_dir / "elmo-schemas" / "v1.7.0").mkdir(parents=True)
        (xsd_dir / "elmo-schemas" / "v1.7.0" / "schema.xsd").write_text("<schema/>")
        (xsd_dir / "offline-import-map.json").write_text("{}")
    assert main(["verify", str(files["xml"]), "--cert", str(files["pem"]), "--xsd-dir", str(xsd_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"emrex-emc verify: error: --xsd-dir '{xsd_dir}' ")
    expected = (
        "is not a folder" if folder == "not-a-folder" else "does not hold the ELMO schemas (missing or unreadable: "
    )
    assert expected in err
    if folder == "partial":
        assert "elmo-schemas/v1.3.0/schema.xsd" in err and "elmo-schemas/v1.7.0/schema.xsd" not in err


# --- EMREX 2.0: the results body, its detached JWS and the EMP's public key --------------------------------


@pytest.fixture
def emrex2_files(tmp_path: Path) -> dict[str, Path]:
    from datetime import date

    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from emrex_emc.local.elmo_factory import build_elmo
    from emrex_emc.local.jose_signing import detached_jws

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = build_elmo(given_names="Kari", family_name="Nordmann", birth_date=date(1998, 4, 3), courses=2)
    files = {
        "body": tmp_path / "payload.txt",
        "jws": tmp_path / "x-signature.txt",
        "key": tmp_path / "emp-public-key.pem",
        "tampered": tmp_path / "tampered.txt",
    }
    files["body"].write_bytes(body)
    files["tampered"].write_bytes(body.replace(b"Kari", b"Kara"))
    files["jws"].write_text(detached_jws(body, key) + "\n")
    files["key"].write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return files


def test_emrex2_results_verify_offline_with_the_jws_from_a_file_or_a_value(
    emrex2_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", str(emrex2_files["body"]), "--public-key", str(emrex2_files["key"])]
    assert main([*args, "--detached-jws", str(emrex2_files["jws"])]) == 0
    out = capsys.readouterr().out
    assert "signed with a detached JWS RS256" in out and "XML_SIGNATURE_NOT_CHECKED" in out
    value = emrex2_files["jws"].read_text().strip()
    assert main([*args, "--detached-jws", value, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["signature"]["format"] == "jws" and result["signature"]["algorithm"] == "RS256"


def test_emrex2_tampered_results_are_refused(emrex2_files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["verify", str(emrex2_files["tampered"]), "--detached-jws", str(emrex2_files["jws"])]
    assert main([*args, "--public-key", str(emrex2_files["key"])]) == 1
    assert "REFUSED JWS_INVALID" in capsys.readouterr().err


def test_emrex2_arguments_come_together(emrex2_files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(emrex2_files["body"]), "--detached-jws", str(emrex2_files["jws"])]) == 2
    assert (
        main(["verify", str(emrex2_files["body"]), "--detached-jws", "a..b", "--public-key", str(emrex2_files["body"])])
        == 2
    )
    assert "not an RSA public key" in capsys.readouterr().err


def evidence_file(folder: Path, jws_file: Path, public_key: bytes) -> Path:
    """``transfers/<id>/x-signature.json`` as the callback stores it for this JWS and EMP key (DER)."""
    from emrex_emc.adapters.blobs import canonical_json
    from emrex_emc.core.evidence import DetachedSignature

    path = folder / "x-signature.json"
    path.write_bytes(canonical_json(DetachedSignature(jws_file.read_text().strip(), public_key).to_json()))
    return path


def der_of(pem_file: Path) -> bytes:
    from emrex_emc.core.jws import public_key_der

    return public_key_der(pem_file.read_bytes())


def test_emrex2_results_verify_with_the_stored_evidence_file(
    emrex2_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = emrex2_files["body"]
    evidence = evidence_file(tmp_path, emrex2_files["jws"], der_of(emrex2_files["key"]))
    assert main(["verify", str(body), "--detached-jws", str(evidence), "--json"]) == 0  # its key, its x_signature
    shown = capsys.readouterr()
    result = json.loads(shown.out)
    assert result["signature"]["public_key_sha256"] == json.loads(evidence.read_text())["public_key_sha256"]
    assert "key stored beside the evidence" in shown.err  # says the check is not independent of the bucket
    assert main(["verify", str(body), "--detached-jws", str(evidence), "--public-key", str(emrex2_files["key"])]) == 0
    assert "beside the evidence" not in capsys.readouterr().err
    assert main(["verify", str(emrex2_files["tampered"]), "--detached-jws", str(evidence)]) == 1
    assert "REFUSED JWS_INVALID" in capsys.readouterr().err


def test_emrex2_evidence_with_another_key_is_refused_as_a_wrong_key_is(
    emrex2_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    other_pem = tmp_path / "other.pem"
    other_pem.write_bytes(other.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    body, jws = emrex2_files["body"], emrex2_files["jws"]
    assert main(["verify", str(body), "--detached-jws", str(jws), "--public-key", str(other_pem)]) == 1
    today = capsys.readouterr().err
    evidence = evidence_file(tmp_path, jws, der_of(other_pem))
    assert main(["verify", str(body), "--detached-jws", str(evidence)]) == 1
    assert capsys.readouterr().err == today and today.startswith("REFUSED JWS_INVALID")
    # and --public-key overrides the evidence's key
    assert main(["verify", str(body), "--detached-jws", str(evidence), "--public-key", str(emrex2_files["key"])]) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"x_signature": "a..b", ', "is neither a JWS nor evidence JSON"),
        (b"{" + b"[" * 100_000 + b"]" * 100_000 + b"}", "is neither a JWS nor evidence JSON"),
        (b'{"x_signature": null, "public_key": "x"}', "holds no x_signature"),
        (b'{"x_signature": ["a..b"]}', "holds no x_signature"),
        (b'{"x_signature": "a..b"}', "must be given together"),  # no key in it, none given
        (b'{"x_signature": "a..b", "public_key": "-----BEGIN PUBLIC KEY-----\\n\\u001b[2J"}', "is not an RSA public"),
        (b'{"x_signature": "' + b"a" * (1024 * 1024) + b'"}', "is larger than"),
    ],
)
def test_emrex2_a_malformed_or_oversized_evidence_file_is_a_usage_error(
    emrex2_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    evidence = tmp_path / "x-signature.json"
    evidence.write_bytes(content)
    assert main(["verify", str(emrex2_files["body"]), "--detached-jws", str(evidence)]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and "Traceback" not in captured.err and captured.out == ""
    assert (
        captured.err.startswith("emrex-emc verify: error: ")
        and len(captured.err) < 600
        and is_clean(captured.err.rstrip())
    )
