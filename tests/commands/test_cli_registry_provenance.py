"""``emrex-emc verify --registry [--emp]`` (which EMP's key verified, and provenance) and the covered
institutions in ``emrex-emc registry --json``."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest

from emrex_emc.cli import main
from emrex_emc.core.registry_parse import CATALOGUE_NS, DAP_NS
from emrex_emc.local.elmo_factory import (
    ATHENS,
    OSLO,
    SigningIdentity,
    build_elmo_21,
    encode_elmo,
    generate_signing_identity,
    sign_elmo,
)

BIRTH = dt.date(1999, 4, 5)


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningIdentity]:
    return {name: generate_signing_identity(f"{name} EMP") for name in ("greek", "norwegian", "italian", "rogue")}


def _entry(name: str, country: str, url: str, identity: SigningIdentity, institutions: tuple[str, ...] = ()) -> str:
    listed = "".join(f"<institution>{institution}</institution>" for institution in institutions)
    certificate = base64.b64encode(identity.cert_der).decode("ascii")
    return (
        f'<emrex-data-access-point xmlns="{DAP_NS}" version="1.0.0"><url>{url}</url><name>{name}</name>'
        f"<country-code>{country}</country-code>{listed}<certificate>{certificate}</certificate>"
        "</emrex-data-access-point>"
    )


@pytest.fixture
def catalogue(tmp_path: Path, keys: dict[str, SigningIdentity]) -> Path:
    """An EWP catalogue as the registry serves it: EMREX entries in hosts that declare the HEIs they cover."""
    greek = _entry("eDiplomas", "GR", "https://ediplomas.example.gr/emrex", keys["greek"])
    norwegian = _entry("Sikt", "NO", "https://sikt.example.no/emrex", keys["norwegian"], ("Universitetet i Oslo",))
    italian = _entry("Italian test EMP", "IT", "https://emp.example.it/emrex", keys["italian"])
    xml = f"""<catalogue xmlns="{CATALOGUE_NS}">
      <host><apis-implemented>{greek}</apis-implemented>
        <institutions-covered><hei-id>uoa.gr</hei-id></institutions-covered></host>
      <host><apis-implemented>{norwegian}</apis-implemented>
        <institutions-covered><hei-id>uio.no</hei-id><hei-id>uib.no</hei-id></institutions-covered></host>
      <host><apis-implemented>{italian}</apis-implemented></host>
      <host><institutions-covered><hei-id>unibo.it</hei-id></institutions-covered></host>
      <institutions>
        <hei id="uoa.gr"><other-id type="erasmus">G  ATHINE01</other-id><other-id type="pic">999863963</other-id>
          <name xml:lang="en">National and Kapodistrian University of Athens</name></hei>
        <hei id="uio.no"><other-id type="erasmus">N  OSLO01</other-id>
          <name xml:lang="en">University of Oslo</name><name xml:lang="no">Universitetet i Oslo</name></hei>
        <hei id="uib.no"><name xml:lang="en">University of Bergen</name></hei>
        <hei id="unibo.it"><other-id type="erasmus">I  BOLOGNA01</other-id><name>Università di Bologna</name></hei>
      </institutions>
    </catalogue>"""
    path = tmp_path / "catalogue-v1.xml"
    path.write_text(xml, encoding="utf-8")
    return path


def _payload(tmp_path: Path, identity: SigningIdentity, **options: object) -> Path:
    xml = build_elmo_21(given_names="Georgios", family_name="Papadopoulos", birth_date=BIRTH, **options)  # type: ignore[arg-type]
    path = tmp_path / "elmo.txt"
    path.write_text(encode_elmo(sign_elmo(xml, identity, style="ds-sha256-exclusive")))
    return path


def _verify(*args: str) -> int:
    return main(["verify", *args])


def test_the_emp_whose_key_verified_and_a_covered_issuer(
    tmp_path: Path, catalogue: Path, keys: dict[str, SigningIdentity], capsys: pytest.CaptureFixture[str]
) -> None:
    payload = _payload(tmp_path, keys["greek"], issuer=ATHENS)
    assert _verify(str(payload), "--registry", str(catalogue), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verified"] is True
    assert out["emp"] == {"name": "eDiplomas", "url": "https://ediplomas.example.gr/emrex", "country": "GR"}
    assert out["provenance"] == {
        "verdict": "covered",
        "reports": [{"index": 0, "verdict": "covered", "hei_id": "uoa.gr"}],
    }
    assert out["elmo"]["summary"]["document_types"] == ["Diploma"]


def test_an_emp_vouching_for_an_institution_it_does_not_cover(
    tmp_path: Path, catalogue: Path, keys: dict[str, SigningIdentity], capsys: pytest.CaptureFixture[str]
) -> None:
    """The attack review's case: an Italian test EMP signs results "from" the University of Oslo."""
    payload = _payload(tmp_path, keys["italian"], issuer=replace(OSLO, country="IT"))
    assert _verify(str(payload), "--registry", catalogue.as_uri(), "--json") == 0  # not a refusal
    out = json.loads(capsys.readouterr().out)
    assert out["emp"]["name"] == "Italian test EMP"
    assert out["provenance"] == {
        "verdict": "not_covered",
        "reports": [{"index": 0, "verdict": "not_covered", "hei_id": "uio.no"}],
    }


@pytest.mark.parametrize("case", [("GR", "same_country"), ("CY", "not_covered")])
def test_an_issuer_the_registry_does_not_know_is_judged_by_country(
    tmp_path: Path,
    catalogue: Path,
    keys: dict[str, SigningIdentity],
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, str],
) -> None:
    issuer_country, verdict = case
    unknown = replace(ATHENS, identifiers=(("schac", "new.example.gr"),), country=issuer_country)
    payload = _payload(tmp_path, keys["greek"], issuer=unknown)
    assert _verify(str(payload), "--registry", str(catalogue), "--json") == 0
    assert json.loads(capsys.readouterr().out)["provenance"]["verdict"] == verdict


def test_an_institution_only_a_non_emrex_host_covers_is_not_known(
    tmp_path: Path, catalogue: Path, keys: dict[str, SigningIdentity], capsys: pytest.CaptureFixture[str]
) -> None:
    """Bologna is in the catalogue, but no EMREX EMP covers it: the registry of EMPs does not know it."""
    bologna = replace(ATHENS, identifiers=(("erasmus", "I  BOLOGNA01"),), country="IT")
    payload = _payload(tmp_path, keys["italian"], issuer=bologna)
    assert _verify(str(payload), "--registry", str(catalogue), "--json") == 0
    assert json.loads(capsys.readouterr().out)["provenance"]["verdict"] == "same_country"


def test_emp_restricts_the_keys_tried(
    tmp_path: Path, catalogue: Path, keys: dict[str, SigningIdentity], capsys: pytest.CaptureFixture[str]
) -> None:
    payload = _payload(tmp_path, keys["greek"], issuer=ATHENS)
    assert _verify(str(payload), "--registry", str(catalogue), "--emp", "EDIPLOMAS") == 0
    out = capsys.readouterr().out
    assert "EMP: eDiplomas (GR, https://ediplomas.example.gr/emrex)" in out
    assert "provenance: covered" in out and "report 0: covered (uoa.gr)" in out
    assert _verify(str(payload), "--registry", str(catalogue), "--emp", "Sikt", "--json") == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["verified"] is False
    assert captured.err.startswith("REFUSED SIGNATURE_UNTRUSTED_KEY")


def test_exit_one_when_no_emps_key_verifies(
    tmp_path: Path, catalogue: Path, keys: dict[str, SigningIdentity], capsys: pytest.CaptureFixture[str]
) -> None:
    payload = _payload(tmp_path, keys["rogue"], issuer=ATHENS)
    assert _verify(str(payload), "--registry", str(catalogue)) == 1
    assert capsys.readouterr().err.startswith("REFUSED SIGNATURE_UNTRUSTED_KEY")


def test_identity_methods_are_printed(
    tmp_path: Path, catalogue: Path, keys: dict[str, SigningIdentity], capsys: pytest.CaptureFixture[str]
) -> None:
    payload = _payload(tmp_path, keys["greek"], alternative_name=("Γεώργιος Παπαδόπουλος", "el"))
    expect = [
        "--expect-given-names",
        "Γεώργιος",
        "--expect-family-name",
        "Παπαδόπουλος",
        "--expect-birth-date",
        "1999-04-05",
    ]
    assert _verify(str(payload), "--registry", str(catalogue), *expect) == 0
    out = capsys.readouterr().out
    assert "identity: MATCH" in out and "given_names: MATCH by alternative_name" in out


@pytest.mark.parametrize(
    "case",
    [
        (["--registry", "CATALOGUE", "--emp", "Nobody"], "has no EMP named 'Nobody'"),
        (["--cert", "CATALOGUE", "--emp", "Sikt"], "--emp needs --registry"),
        (["--registry", "/nonexistent/catalogue.xml"], "cannot read the registry"),
    ],
)
def test_usage_errors(
    tmp_path: Path,
    catalogue: Path,
    keys: dict[str, SigningIdentity],
    capsys: pytest.CaptureFixture[str],
    case: tuple[list[str], str],
) -> None:
    args, message = case
    payload = _payload(tmp_path, keys["greek"])
    assert _verify(str(payload), *[str(catalogue) if arg == "CATALOGUE" else arg for arg in args]) == 2
    assert message in capsys.readouterr().err


def test_cert_and_registry_are_alternatives(tmp_path: Path, catalogue: Path, keys: dict[str, SigningIdentity]) -> None:
    payload = _payload(tmp_path, keys["greek"])
    cert = tmp_path / "emp.pem"
    cert.write_bytes(keys["greek"].cert_pem)
    with pytest.raises(SystemExit) as both:
        _verify(str(payload), "--cert", str(cert), "--registry", str(catalogue))
    assert both.value.code == 2
    assert _verify(str(payload)) == 2  # no keys at all: a usage error too


def test_an_emreg_list_works_too(
    tmp_path: Path, keys: dict[str, SigningIdentity], capsys: pytest.CaptureFixture[str]
) -> None:
    emreg = {
        "countries": [{"countryCode": "GR", "countryName": "Greece", "singleFetch": False}],
        "emps": [
            {
                "acronym": "eDiplomas",
                "countryCode": "GR",
                "url": "https://ediplomas.example.gr/emrex",
                "pubKey": keys["greek"].cert_pem.decode("ascii"),
                "institutions": ["National and Kapodistrian University of Athens"],
            }
        ],
    }
    registry = tmp_path / "emreg.json"
    registry.write_text(json.dumps(emreg))
    payload = _payload(tmp_path, keys["greek"], issuer=ATHENS)
    assert _verify(str(payload), "--registry", str(registry), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["emp"]["country"] == "GR"
    assert out["provenance"]["verdict"] == "same_country"  # an EMREG list names institutions, it gives no ids


def test_registry_json_lists_each_emps_covered_institutions(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", str(catalogue), "--json"]) == 0
    emps = {emp["name"]: emp for emp in json.loads(capsys.readouterr().out)["emps"]}
    assert emps["Sikt"]["host"] == "sikt.example.no"
    assert emps["Sikt"]["covered"] == [
        {
            "hei_id": "uio.no",
            "other_ids": [{"type": "erasmus", "value": "N  OSLO01"}],
            "names": [{"lang": "en", "value": "University of Oslo"}, {"lang": "no", "value": "Universitetet i Oslo"}],
        },
        {"hei_id": "uib.no", "other_ids": [], "names": [{"lang": "en", "value": "University of Bergen"}]},
    ]
    assert emps["Italian test EMP"]["covered"] == []
    assert main(["registry", str(catalogue)]) == 0
    assert "covers:       2: uio.no (University of Oslo); uib.no (University of Bergen)" in capsys.readouterr().out
