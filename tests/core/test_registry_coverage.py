"""The institutions each EMP covers: EWP catalogue hosts' ``institutions-covered`` with the catalogue's
``other-id`` values and names, the entry's own ``institution`` values, and EMREG's institution names."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from lxml import etree

from emrex_emc.core import registry_entries
from emrex_emc.core.registry import CoveredInstitution, Emp, RegistrySnapshot, emp_id
from emrex_emc.core.registry_emreg import parse_emreg_json
from emrex_emc.core.registry_entries import (
    MAX_IDS_PER_INSTITUTION,
    MAX_INSTITUTIONS_PER_EMP,
    MAX_NAMES_PER_INSTITUTION,
    NOTICE_ENTRY_TRIMMED,
)
from emrex_emc.core.registry_parse import parse_ewp_catalogue, parse_registry, render_ewp_catalogue
from emrex_emc.core.text import is_clean
from tests.core.test_registry_parse import CAT_NS, CATALOGUE_EXAMPLE, CERT_A, CERT_B, b64, dap_entry

OSLO = CoveredInstitution(
    hei_id="uio.no",
    other_ids=(("erasmus", "N  OSLO01"), ("pic", "999870222")),
    names=(("en", "University of Oslo"), ("no", "Universitetet i Oslo")),
)


def _catalogue(hosts: list[tuple[str, list[str]]], heis: str = "") -> bytes:
    """Hosts as (EMREX entry, covered hei-ids), and the catalogue's ``institutions`` content."""
    parts = []
    for entry, covered in hosts:
        ids = "".join(f"<hei-id>{hei_id}</hei-id>" for hei_id in covered)
        coverage = f"<institutions-covered>{ids}</institutions-covered>" if covered else ""
        parts.append(f"<host><apis-implemented>{entry}</apis-implemented>{coverage}</host>")
    return f'<catalogue xmlns="{CAT_NS}">{"".join(parts)}<institutions>{heis}</institutions></catalogue>'.encode()


def _hei(hei_id: str, *children: str) -> str:
    return f"<hei id='{hei_id}'>{''.join(children)}</hei>"


HEIS = (
    _hei(
        "uio.no",
        "<other-id type='erasmus'>N  OSLO01</other-id><other-id type='pic'>999870222</other-id>",
        "<name xml:lang='en'>University of Oslo</name><name xml:lang='no'>Universitetet i Oslo</name>",
    )
    + _hei("ntnu.no", "<other-id type='erasmus'>N  TRONDHE01</other-id>", "<name xml:lang='en'>NTNU</name>")
    + _hei("uoa.gr", "<other-id type='erasmus'>G  ATHINE01</other-id>", "<name>ΕΚΠΑ</name>")
)


def test_the_real_catalogue_example_hosts_coverage_is_read_with_ids_and_names() -> None:
    root = etree.fromstring(CATALOGUE_EXAMPLE.read_bytes())
    covering_host = root.findall(f"{{{CAT_NS}}}host")[1]  # the host that covers uw.edu.pl
    covering_host.find(f"{{{CAT_NS}}}apis-implemented").append(  # type: ignore[union-attr]
        etree.fromstring(dap_entry(name="USOS Warsaw", country="PL", url="https://usosweb.uw.edu.pl/ncp"))
    )
    [emp] = parse_ewp_catalogue(etree.tostring(root)).emps
    assert emp.covered == (
        CoveredInstitution(
            hei_id="uw.edu.pl",
            other_ids=(
                ("erasmus", "PL WARSZAW01"),
                ("erasmus-charter", "45834-EPP-1-2014-1-PL-EPPKA3-ECHE"),
                ("pic", "999572294"),
            ),
            names=(("en", "University of Warsaw"),),
        ),
    )
    assert emp.institution_names == ("University of Warsaw",)


def test_each_emp_covers_its_own_hosts_institutions() -> None:
    norway = dap_entry(name="Sikt", country="NO", url="https://sikt.example/emp")
    greece = dap_entry(name="eDiplomas", country="GR", url="https://ediplomas.example/emp")
    parsed = parse_ewp_catalogue(_catalogue([(norway, ["uio.no", "NTNU.no"]), (greece, ["uoa.gr"])], HEIS))
    sikt, ediplomas = parsed.emps
    assert [institution.hei_id for institution in sikt.covered] == ["uio.no", "NTNU.no"]
    assert sikt.covered[0] == OSLO
    assert sikt.covered[1].other_ids == (("erasmus", "N  TRONDHE01"),)  # found case-insensitively
    assert [institution.hei_id for institution in ediplomas.covered] == ["uoa.gr"]
    assert ediplomas.covered[0].names == ((None, "ΕΚΠΑ"),)
    assert parsed.notices == ()


def test_a_covered_hei_id_missing_from_the_catalogues_institutions_is_kept_with_its_id_only() -> None:
    entry = dap_entry(name="Sikt", country="NO")
    [emp] = parse_ewp_catalogue(_catalogue([(entry, ["hiof.no", "  "])], HEIS)).emps
    assert emp.covered == (CoveredInstitution(hei_id="hiof.no"),)


def test_entry_institution_values_that_are_hei_ids_are_covered_too() -> None:
    entry = dap_entry(name="Sikt", country="NO", institutions=("UIO.NO", "Universitetet i Bergen"))
    [emp] = parse_ewp_catalogue(_catalogue([(entry, [])], HEIS)).emps
    assert [institution.hei_id for institution in emp.covered] == ["UIO.NO"]
    assert emp.covered[0].names == OSLO.names
    assert emp.institutions == ("UIO.NO", "Universitetet i Bergen")  # the display names stay as listed


def test_a_manifest_style_coverage_with_inline_heis_is_read() -> None:
    inline = _hei("uio.no", "<other-id type='pic'>999870222</other-id>", "<name>UiO</name>")
    xml = (
        f'<catalogue xmlns="{CAT_NS}"><host><apis-implemented>{dap_entry()}</apis-implemented>'
        f"<institutions-covered>{inline}</institutions-covered></host><institutions/></catalogue>"
    )
    [emp] = parse_ewp_catalogue(xml.encode()).emps
    assert emp.covered == (CoveredInstitution("uio.no", (("pic", "999870222"),), ((None, "UiO"),)),)


def test_coverage_is_capped_clipped_and_clean() -> None:
    ids = "".join(f"<other-id type='t{i}'>id-{i}</other-id>" for i in range(MAX_IDS_PER_INSTITUTION + 5))
    long_id = "<other-id type='pic'>" + "9" * 500 + "</other-id>"
    names = "".join(f"<name>Name\u202e {i} {'x' * 400}</name>" for i in range(MAX_NAMES_PER_INSTITUTION + 3))
    hostile = "<other-id type='pic'>12\u202e34</other-id><other-id type='x\u2066'>1</other-id>"
    heis = _hei("big.example", long_id, hostile, ids, names)
    covered = [f"h{i}.example" for i in range(MAX_INSTITUTIONS_PER_EMP + 10)] + ["big.example", "x" * 500]
    parsed = parse_ewp_catalogue(_catalogue([(dap_entry(), ["big.example", *covered])], heis))
    [emp] = parsed.emps
    assert len(emp.covered) == MAX_INSTITUTIONS_PER_EMP
    big = emp.covered[0]
    assert len(big.other_ids) == MAX_IDS_PER_INSTITUTION and big.other_ids[0] == ("t0", "id-0")
    assert len(big.names) == MAX_NAMES_PER_INSTITUTION
    assert all(len(name) <= registry_entries.MAX_INSTITUTION_CHARS and is_clean(name) for _, name in big.names)
    assert NOTICE_ENTRY_TRIMMED in [notice.code for notice in parsed.notices]
    assert all(institution.hei_id != "x" * 500 for institution in emp.covered)


def test_emreg_lists_institution_names_only() -> None:
    document = {
        "countries": [{"countryCode": "NO", "countryName": "Norway", "singleFetch": False}],
        "emps": [
            {
                "acronym": "FS",
                "countryCode": "NO",
                "url": "https://fs.example/emp",
                "pubKey": b64(CERT_A),
                "institutions": ["Universitetet i Oslo", {"name": "NTNU"}, 7, {"id": "x"}],
            }
        ],
    }
    [emp] = parse_emreg_json(json.dumps(document).encode()).emps
    assert emp.institutions == ("Universitetet i Oslo", "NTNU")
    assert emp.covered == (
        CoveredInstitution(names=((None, "Universitetet i Oslo"),)),
        CoveredInstitution(names=((None, "NTNU"),)),
    )


def test_rendered_coverage_round_trips_and_is_valid_against_the_ewp_schemas(catalogue_schema: etree.XMLSchema) -> None:
    emps = (
        Emp(
            id=emp_id("NO", "https://sikt.example/emp"),
            name="Sikt",
            url="https://sikt.example/emp",
            country="NO",
            institutions=("Universitetet i Oslo",),
            certificates=(CERT_A,),
            covered=(OSLO, CoveredInstitution("ntnu.no", (), (("en", "NTNU"),))),
        ),
        Emp(
            id=emp_id("NO", "https://other.example/emp"),
            name="Other",
            url="https://other.example/emp",
            country="NO",
            certificates=(CERT_B,),
            covered=(OSLO,),  # an institution two hosts cover is described once
        ),
    )
    rendered = render_ewp_catalogue(emps)
    assert catalogue_schema.validate(etree.fromstring(rendered)), catalogue_schema.error_log
    assert rendered.count(b"<hei ") == 2
    assert parse_registry(rendered).emps == emps


def test_snapshots_keep_the_coverage_and_older_snapshots_still_read() -> None:
    emp = Emp(id="no-1", name="Sikt", url="https://sikt.example/emp", country="NO", covered=(OSLO,))
    snapshot = RegistrySnapshot(fetched_at=datetime(2026, 1, 1, tzinfo=UTC), source="x", emps=(emp,))
    assert RegistrySnapshot.from_json(json.loads(json.dumps(snapshot.to_json()))) == snapshot
    older = snapshot.to_json()
    del older["emps"][0]["covered"]
    assert RegistrySnapshot.from_json(older).emps[0].covered == ()


def test_host_of_an_emp() -> None:
    assert Emp(id="x", name="A", url="https://app.vitnemalsportalen.no/vp/init", country="NO").host == (
        "app.vitnemalsportalen.no"
    )
