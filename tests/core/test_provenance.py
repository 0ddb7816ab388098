"""Issuer provenance: each verdict by the issue's rules, the overall verdict, and the pinned coverage."""

from __future__ import annotations

import json

import pytest

from emrex_emc.core.elmo.model import Issuer
from emrex_emc.core.elmo.primitives import Identifier
from emrex_emc.core.provenance import (
    MAX_ELSEWHERE_KEYS,
    MAX_REPORTS,
    Coverage,
    Provenance,
    ReportProvenance,
    assess_provenance,
    identifier_key,
)
from emrex_emc.core.registry import CoveredInstitution, Emp

ATHENS = CoveredInstitution(
    hei_id="uoa.gr", other_ids=(("erasmus", "G  ATHINE01"), ("pic", "999863963")), names=(("en", "UoA"),)
)
CRETE = CoveredInstitution(hei_id="uoc.gr", other_ids=(("erasmus", "G  KRITIS01"), ("previous-schac", "crete.gr")))
THESSALONIKI = CoveredInstitution(hei_id="auth.gr", other_ids=(("erasmus", "G  THESSAL01"),))
OSLO = CoveredInstitution(hei_id="uio.no", other_ids=(("erasmus", "N  OSLO01"), ("pic", "999870222")))

EDIPLOMAS = Emp(id="gr-1", name="eDiplomas", url="https://ediplomas.example/emp", country="GR", covered=(ATHENS, CRETE))
OTHER_GREEK = Emp(id="gr-2", name="Other GR", url="https://other.example/emp", country="GR", covered=(THESSALONIKI,))
SIKT = Emp(id="no-1", name="Sikt", url="https://sikt.example/emp", country="NO", covered=(OSLO, ATHENS))
ITALIAN = Emp(id="it-1", name="Italian test EMP", url="https://it.example/emp", country="IT")
REGISTRY = (EDIPLOMAS, OTHER_GREEK, SIKT, ITALIAN)


def issuer(*ids: tuple[str | None, str], country: str | None = None) -> Issuer:
    return Issuer(identifiers=tuple(Identifier(value, kind) for kind, value in ids), country=country)


def verdict_of(emp: Emp, *issuers: Issuer) -> Provenance:
    return assess_provenance(issuers, Coverage.of(emp, REGISTRY))


@pytest.mark.parametrize(
    "ids",
    [
        (("schac", "uoa.gr"),),
        (("erasmus", "G  ATHINE01"),),
        (("erasmus", "g athine01"),),  # case-insensitive, whitespace collapsed
        (("pic", " 999863963 "),),
        (("SCHAC", "UOA.GR"), ("erasmus", "G ATHINE01"), ("pic", "999863963")),  # all point to one institution
        (("schac", "uoa.gr"), ("local", "12345"), ("address", "Panepistimiopolis")),  # ids it does not know
    ],
)
def test_covered_when_the_known_identifiers_point_to_one_covered_institution(ids: tuple[tuple[str, str], ...]) -> None:
    result = verdict_of(EDIPLOMAS, issuer(*ids, country="GR"))
    assert result.verdict == "covered"
    assert result.reports == (ReportProvenance(0, "covered", "uoa.gr"),)


def test_a_previous_schac_id_counts_as_schac() -> None:
    assert verdict_of(EDIPLOMAS, issuer(("schac", "CRETE.gr"))).reports == (ReportProvenance(0, "covered", "uoc.gr"),)


def test_identifiers_are_compared_by_type() -> None:
    # the Erasmus code given as a schac id is not known: nothing points anywhere, the country decides
    assert verdict_of(EDIPLOMAS, issuer(("schac", "G  ATHINE01"), country="GR")).verdict == "same_country"
    assert verdict_of(EDIPLOMAS, issuer(("pic", "uoa.gr"), country="NO")).verdict == "not_covered"


def test_an_institution_another_emp_covers_is_not_covered_whatever_the_country_says() -> None:
    """The attack: an Italian test EMP vouches for the University of Oslo (and claims it is Italian)."""
    result = verdict_of(ITALIAN, issuer(("schac", "uio.no"), country="IT"))
    assert result.verdict == "not_covered"
    assert result.reports == (ReportProvenance(0, "not_covered", "uio.no"),)
    assert verdict_of(OTHER_GREEK, issuer(("erasmus", "G ATHINE01"), country="GR")).verdict == "not_covered"


def test_identifiers_pointing_to_different_institutions_are_not_covered() -> None:
    mixed = issuer(("schac", "uoa.gr"), ("erasmus", "G  KRITIS01"), country="GR")  # both covered, but two
    assert verdict_of(EDIPLOMAS, mixed).reports == (ReportProvenance(0, "not_covered", "uoa.gr"),)
    partly = issuer(("schac", "uoa.gr"), ("erasmus", "G  THESSAL01"), country="GR")  # one covered, one not
    assert verdict_of(EDIPLOMAS, partly).verdict == "not_covered"


def test_an_institution_two_emps_cover_is_covered_by_both() -> None:
    athens = issuer(("schac", "uoa.gr"), country="GR")
    assert verdict_of(EDIPLOMAS, athens).verdict == "covered"
    assert verdict_of(SIKT, athens).verdict == "covered"


@pytest.mark.parametrize(
    ("unknown", "expected"),
    [
        (issuer(("schac", "new-university.gr"), country="GR"), ("same_country", "new-university.gr")),
        (issuer(country="GR"), ("same_country", None)),
        (issuer(("schac", "new-university.gr"), country="CY"), ("not_covered", "new-university.gr")),
        (issuer(("erasmus", "G  NEW01")), ("not_covered", None)),  # identifiers, but no country
        (issuer(), ("unknown", None)),  # neither identifiers nor a country
    ],
)
def test_issuers_the_registry_does_not_know(unknown: Issuer, expected: tuple[str, str | None]) -> None:
    [report] = verdict_of(EDIPLOMAS, unknown).reports
    assert (report.verdict, report.hei_id) == expected


@pytest.mark.parametrize(
    ("verdicts", "overall"),
    [
        (["covered", "covered"], "covered"),
        (["covered", "same_country"], "same_country"),
        (["same_country", "unknown", "covered"], "unknown"),
        (["unknown", "not_covered", "covered"], "not_covered"),
    ],
)
def test_the_overall_verdict_is_the_worst(verdicts: list[str], overall: str) -> None:
    issuers = {
        "covered": issuer(("schac", "uoa.gr")),
        "same_country": issuer(country="GR"),
        "unknown": issuer(),
        "not_covered": issuer(country="FR"),
    }
    result = verdict_of(EDIPLOMAS, *(issuers[verdict] for verdict in verdicts))
    assert [report.verdict for report in result.reports] == verdicts
    assert [report.index for report in result.reports] == list(range(len(verdicts)))
    assert result.verdict == overall


def test_a_document_without_reports_is_unknown() -> None:
    assert verdict_of(EDIPLOMAS) == Provenance("unknown", ())


def test_many_reports_are_listed_up_to_the_cap_but_all_decide() -> None:
    issuers = [issuer(("schac", "uoa.gr"))] * (MAX_REPORTS + 10) + [issuer(country="FR")]
    result = verdict_of(EDIPLOMAS, *issuers)
    assert len(result.reports) == MAX_REPORTS and result.verdict == "not_covered"


def test_an_emp_without_pinned_coverage_is_judged_by_country_only() -> None:
    coverage = Coverage(country="GR")
    assert assess_provenance([issuer(("schac", "uoa.gr"), country="GR")], coverage).verdict == "same_country"
    assert assess_provenance([issuer(("schac", "uio.no"), country="NO")], coverage).verdict == "not_covered"


def test_a_hostile_identifier_is_clipped_in_the_result() -> None:
    long_id = "x" * 5000 + "\x1b[2J"
    [report] = verdict_of(EDIPLOMAS, issuer(("schac", long_id), country="GR")).reports
    assert report.hei_id is not None and len(report.hei_id) <= 100 and "\x1b" not in report.hei_id


# --- the coverage pinned with a transfer -------------------------------------------------------------


def test_coverage_holds_what_the_emp_covers_and_what_the_registry_knows_elsewhere() -> None:
    coverage = Coverage.of(EDIPLOMAS, REGISTRY)
    assert coverage.country == "GR"
    assert [institution.hei_id for institution in coverage.covered] == ["uoa.gr", "uoc.gr"]
    assert coverage.covered[0].names == ()  # names are not needed to judge, so not pinned
    assert coverage.elsewhere == {
        "schac:auth.gr": "auth.gr",
        "erasmus:g thessal01": "auth.gr",
        "schac:uio.no": "uio.no",
        "erasmus:n oslo01": "uio.no",
        "pic:999870222": "uio.no",
    }  # Athens is Sikt's too, but eDiplomas covers it: not "elsewhere"


def test_coverage_survives_storage() -> None:
    coverage = Coverage.of(SIKT, REGISTRY)
    assert Coverage.from_json(json.loads(json.dumps(coverage.to_json()))) == coverage


def test_the_emps_own_country_comes_first_when_the_registry_knows_too_much() -> None:
    foreign = tuple(
        Emp(id=f"fr-{n}", name="F", url="https://f.example", country="FR", covered=(CoveredInstitution(f"f{n}.fr"),))
        for n in range(MAX_ELSEWHERE_KEYS + 5)
    )
    coverage = Coverage.of(EDIPLOMAS, (*foreign, OTHER_GREEK))
    assert len(coverage.elsewhere) == MAX_ELSEWHERE_KEYS
    assert "schac:auth.gr" in coverage.elsewhere


def test_stored_provenance_round_trips_and_junk_reads_as_unknown() -> None:
    result = verdict_of(EDIPLOMAS, issuer(("schac", "uoa.gr")), issuer(country="FR"))
    assert Provenance.from_json(json.loads(json.dumps(result.to_json()))) == result
    assert Provenance.from_json({"verdict": "trusted", "reports": [{"verdict": 3}]}) == Provenance(
        "unknown", (ReportProvenance(0, "unknown", None),)
    )


@pytest.mark.parametrize(
    ("kind", "value", "key"),
    [
        ("schac", " UiO.no ", "schac:uio.no"),
        ("previous-schac", "old.no", "schac:old.no"),
        ("Erasmus", "N  OSLO01", "erasmus:n oslo01"),
        ("euc", "123", "erasmus-charter:123"),
        (None, "x", None),
        ("pic", "   ", None),
    ],
)
def test_identifier_keys(kind: str | None, value: str, key: str | None) -> None:
    assert identifier_key(kind, value) == key
