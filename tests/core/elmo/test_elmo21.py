"""ELMO 2.1 (schema 2.1.1, namespace ``tree/v2``): alternative name, countries, document types, enrolment,
results of recognition, the summary's document types, and XSD conformance against 2.0 or 2.1.1."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

from emrex_emc.core.countries import country_code
from emrex_emc.core.elmo.conformance import IMPORT_MAP, check_conformance, missing_schema_files
from emrex_emc.core.elmo.primitives import preferred_text
from emrex_emc.core.elmo.reader import read_elmo
from emrex_emc.local.elmo_factory import ATHENS, OSLO, Enrolment, build_elmo_21
from tests.core.elmo.conftest import ISSUER, V1, V2, build_elmo

GREEK_NAME = ("Γεώργιος Παπαδόπουλος", "el")
BIRTH = dt.date(1999, 4, 5)


def _graduate(**changes: Any) -> etree._Element:
    arguments: dict[str, Any] = {
        "given_names": "Georgios",
        "family_name": "Papadopoulos",
        "birth_date": BIRTH,
        "alternative_name": GREEK_NAME,
    }
    return etree.fromstring(build_elmo_21(**{**arguments, **changes}))


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(resources.files("emrex_emc.schemas").joinpath("elmo-results.schema.json").read_text("utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


# --- the learner ----------------------------------------------------------------------------------------


def test_greek_graduate_learner(validator: Draft202012Validator) -> None:
    data = read_elmo(_graduate()).to_json()
    validator.validate(data)
    learner = data["learner"]
    assert learner["alternative_name"] == {"value": "Γεώργιος Παπαδόπουλος", "lang": "el"}
    assert learner["citizenship"] == "GR"  # an EU authority URI (GRC)
    assert learner["country_of_birth"] == "GR"
    assert learner["birth_date"] == "1999-04-05"
    assert data["notices"] == []


@pytest.mark.parametrize(
    "element",
    ["", "<alternativeName/>", "<alternativeName xml:lang='el'>  </alternativeName>"],
    ids=["absent", "empty", "blank"],
)
def test_alternative_name_absent_or_empty_is_null(element: str) -> None:
    learner = f"<learner><givenNames>Ada</givenNames><familyName>King</familyName>{element}</learner>"
    assert read_elmo(build_elmo(namespace=V2, learner=learner)).to_json()["learner"]["alternative_name"] is None


def test_alternative_name_without_language() -> None:
    learner = "<learner><givenNames/><familyName/><alternativeName>Иван Петров</alternativeName></learner>"
    name = read_elmo(build_elmo(namespace=V2, learner=learner)).learner.alternative_name
    assert name is not None and (name.value, name.lang) == ("Иван Петров", None)


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ("<dateOfBirth>1990-02-03</dateOfBirth>", "1990-02-03"),
        ("<bday>1990-02-03</bday>", "1990-02-03"),
        ("<dateOfBirth>1990-02-03</dateOfBirth><bday>1990-02-03</bday>", "1990-02-03"),
        ("<dateOfBirth>1990-02-03+01:00</dateOfBirth><bday>1991-01-01</bday>", "1990-02-03"),
        ("<dateOfBirth>03.02.1990</dateOfBirth><bday>1990-02-03</bday>", "1990-02-03"),
        ("<dateOfBirth/><bday>1990-02-03</bday>", "1990-02-03"),
    ],
    ids=["dateOfBirth", "bday", "both", "dateOfBirth wins", "invalid dateOfBirth", "empty dateOfBirth"],
)
@pytest.mark.parametrize("namespace", [V1, V2])
def test_bday_and_date_of_birth_both_work(dates: str, expected: str, namespace: str) -> None:
    learner = f"<learner><givenNames>Ada</givenNames><familyName>King</familyName>{dates}</learner>"
    assert read_elmo(build_elmo(namespace=namespace, learner=learner)).to_json()["learner"]["birth_date"] == expected


# --- countries ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GR", "GR"),
        ("gr", "GR"),
        (" NO ", "NO"),
        ("EL", "GR"),
        ("UK", "GB"),
        ("GRC", "GR"),
        ("nor", "NO"),
        ("http://publications.europa.eu/resource/authority/country/GRC", "GR"),
        ("https://publications.europa.eu/resource/authority/country/POL", "PL"),
        ("http://publications.europa.eu/resource/authority/country/GBR/", "GB"),
        ("http://publications.europa.eu/resource/authority/country/XKX", "XK"),
        ("XX", None),
        ("ZZZ", None),
        ("Greece", None),
        ("G", None),
        ("", None),
        ("http://publications.europa.eu/resource/authority/country/", None),
        ("http://publications.europa.eu/resource/authority/country/EUR", None),
    ],
)
def test_country_code(raw: str, expected: str | None) -> None:
    assert country_code(raw) == expected


def test_every_country_is_normalized_and_unknown_ones_become_null_with_a_notice() -> None:
    learner = (
        "<learner><citizenship type='URI'>http://publications.europa.eu/resource/authority/country/NLD</citizenship>"
        "<givenNames>Ada</givenNames><familyName>King</familyName>"
        "<countryOfBirth type='ISO'>Atlantis</countryOfBirth></learner>"
    )
    issuer = ISSUER.replace("<country>GB</country>", "<country type='ISO'>UK</country>")
    xml = etree.tostring(build_elmo(namespace=V2, learner=learner), encoding="unicode").replace(ISSUER, issuer)
    document = read_elmo(etree.fromstring(xml))
    assert (document.learner.citizenship, document.learner.country_of_birth) == ("NL", None)
    assert document.reports[0].issuer.country == "GB"
    assert document.summary.to_json()["issuers"][0]["country"] == "GB"
    [notice] = document.notices
    assert notice.code == "COUNTRY_UNKNOWN" and "countryOfBirth" in notice.message
    assert "Atlantis" not in notice.message


# --- document types -------------------------------------------------------------------------------------


def _los(document_type: str = "", parts: str = "") -> str:
    return (
        "<learningOpportunitySpecification><identifier type='local'>1</identifier><title>Degree</title>"
        f"{document_type}<specifies><learningOpportunityInstance/></specifies>{parts}"
        "</learningOpportunitySpecification>"
    )


def _part(document_type: str = "") -> str:
    return f"<hasPart>{_los(document_type)}</hasPart>"


def test_document_type_as_sent_and_in_the_summary(validator: Draft202012Validator) -> None:
    body = _los("<documentType>Certificate</documentType>") + _los("<documentType>Admission</documentType>")
    data = read_elmo(build_elmo(body, namespace=V2)).to_json()
    validator.validate(data)
    types = [los["document_type"] for los in data["reports"][0]["learning_opportunities"]]
    assert types == ["Certificate", "Admission"]
    assert data["summary"]["document_types"] == ["Admission", "Certificate"]


def test_absent_document_type_is_a_diploma_in_v2_and_null_in_v1() -> None:
    v2 = read_elmo(build_elmo(_los() + _los("<documentType/>"), namespace=V2))
    assert [los.document_type for los in v2.reports[0].learning_opportunities] == ["Diploma", "Diploma"]
    assert v2.summary.to_json()["document_types"] == ["Diploma"]
    v1 = read_elmo(build_elmo(_los(), namespace=V1))
    assert v1.reports[0].learning_opportunities[0].document_type is None
    assert v1.summary.to_json()["document_types"] == []


def test_parts_take_their_parents_document_type_unless_they_have_one() -> None:
    parts = _part() + _part("<documentType>Certificate</documentType>")
    document = read_elmo(build_elmo(_los("<documentType>Enrolment</documentType>", parts), namespace=V2))
    [degree] = document.reports[0].learning_opportunities
    assert [degree.document_type, *(part.document_type for part in degree.parts)] == [
        "Enrolment",
        "Enrolment",
        "Certificate",
    ]
    assert document.summary.to_json()["document_types"] == ["Certificate", "Enrolment"]


def test_document_type_is_matched_case_insensitively_and_an_unknown_one_is_ignored_with_a_notice() -> None:
    body = _los("<documentType>enrolment</documentType>") + _los("<documentType>Transcript</documentType>")
    document = read_elmo(build_elmo(body, namespace=V2))
    assert [los.document_type for los in document.reports[0].learning_opportunities] == ["Enrolment", "Diploma"]
    assert [notice.code for notice in document.notices] == ["VALUE_INVALID"]
    assert "documentType" in document.notices[0].message


# --- enrolment --------------------------------------------------------------------------------------------


def test_enrolment_proof(validator: Draft202012Validator) -> None:
    proof = Enrolment(OSLO, dt.date(2023, 8, 15), dt.date(2024, 8, 1), dt.date(2025, 7, 31))
    data = read_elmo(_graduate(document_type="Enrolment", enrolment=proof)).to_json()
    validator.validate(data)
    [degree] = data["reports"][0]["learning_opportunities"]
    assert degree["document_type"] == "Enrolment"
    assert degree["instance"]["status"] == "in-progress"
    assert degree["instance"]["enrolment"] == {
        "institution": {
            "identifiers": [{"type": "schac", "value": "uio.no"}, {"type": "erasmus", "value": "N  OSLO01"}],
            "titles": [{"lang": "en", "value": "University of Oslo"}],
            "country": "NO",  # written as the EU authority URI .../NOR
            "url": "https://www.uio.no",
        },
        "date": "2023-08-15",
        "academic_year": {"start": "2024-08-01", "end": "2025-07-31"},
    }
    assert all(part["instance"]["enrolment"] is None for part in degree["parts"])
    assert data["summary"]["document_types"] == ["Enrolment"]


def test_incomplete_enrolment_keeps_its_shape_with_notices(validator: Draft202012Validator) -> None:
    loi = "<enrolment><enrolmentDate>2024-13-01</enrolmentDate></enrolment>"
    body = (
        "<learningOpportunitySpecification><title>x</title><specifies><learningOpportunityInstance>"
        f"{loi}</learningOpportunityInstance></specifies></learningOpportunitySpecification>"
    )
    data = read_elmo(build_elmo(body, namespace=V2)).to_json()
    validator.validate(data)
    enrolment = data["reports"][0]["learning_opportunities"][0]["instance"]["enrolment"]
    assert enrolment == {
        "institution": {"identifiers": [], "titles": [], "country": None, "url": None},
        "date": None,
        "academic_year": {"start": None, "end": None},
    }
    assert {notice.code for notice in read_elmo(build_elmo(body, namespace=V2)).notices} == {
        "VALUE_MISSING",
        "VALUE_INVALID",
    }


# --- results of recognition ---------------------------------------------------------------------------------

RECOGNITION = (
    "<resultOfRecognition><identifier type='local'>rec-1</identifier><title xml:lang='en'>Recognition</title>"
    "<description>Courses taken abroad</description><subjectArea>0613</subjectArea><iscedCode>0613</iscedCode>"
    "<status>Partially Positive</status><decisionDate>2025-02-01</decisionDate>"
    "<recognitionBasis><recognitionReport>"
    "<issuer><country type='URI'>http://publications.europa.eu/resource/authority/country/NOR</country>"
    "<identifier type='schac'>uio.no</identifier><title xml:lang='en'>University of Oslo</title>"
    "<url>https://www.uio.no</url></issuer>"
    "<learningOpportunitySpecification><identifier type='local'>INF1000</identifier><title>Programming</title>"
    "<specifies><learningOpportunityInstance><status>passed</status><credit><scheme>ects</scheme>"
    "<value>10</value></credit></learningOpportunityInstance></specifies></learningOpportunitySpecification>"
    "<issueDate>2024-12-20T10:00:00Z</issueDate>"
    "<attachment><title>Oslo transcript</title><content>data:text/plain;base64,aGVsbG8=</content></attachment>"
    "</recognitionReport></recognitionBasis>"
    "<recognitionResult><learningOpportunitySpecification><identifier type='local'>PROG-1</identifier>"
    "<title>Programming I</title><documentType>Certificate</documentType><specifies><learningOpportunityInstance>"
    "<status>passed</status><credit><scheme>ects</scheme><value>7.5</value></credit>"
    "</learningOpportunityInstance></specifies></learningOpportunitySpecification></recognitionResult>"
    "<recognitionMapping><mapping><fromMapping><ref>INF1000</ref></fromMapping>"
    "<toMapping><ref>PROG-1</ref><ref/></toMapping></mapping></recognitionMapping>"
    "<attachments><ref>att-1</ref></attachments></resultOfRecognition>"
)


def test_result_of_recognition(validator: Draft202012Validator) -> None:
    document = read_elmo(_with_recognition())
    data = document.to_json()
    validator.validate(data)
    [result] = data["reports"][0]["result_of_recognition"]
    assert sorted(result) == [
        "attachments",
        "decision_date",
        "description",
        "identifier",
        "isced_code",
        "recognition_basis",
        "recognition_mapping",
        "recognition_result",
        "status",
        "subject_area",
        "title",
    ]
    assert result["identifier"] == [{"type": "local", "value": "rec-1"}]
    assert result["title"] == [{"lang": "en", "value": "Recognition"}]
    assert (result["status"], result["decision_date"], result["subject_area"]) == (
        "Partially Positive",
        "2025-02-01",
        "0613",
    )
    [basis] = result["recognition_basis"]
    assert basis["issuer"]["country"] == "NO"
    assert basis["learning_opportunities"][0]["identifiers"] == [{"type": "local", "value": "INF1000"}]
    assert basis["attachments"][0]["contents"][0]["index"] == 0  # read before the report's own attachments
    [recognised] = result["recognition_result"]
    assert recognised["document_type"] == "Certificate" and recognised["instance"]["ects"] == "7.5"
    assert result["recognition_mapping"] == [{"from_mapping": ["INF1000"], "to_mapping": ["PROG-1"]}]
    assert result["attachments"] == ["att-1"]
    # the summary counts the report's own results, and every attachment
    assert data["summary"]["course_count"] == 1 and data["summary"]["attachment_count"] == 1
    assert [content["index"] for _, content in _contents(document)] == [0]


def _with_recognition() -> etree._Element:
    """A report with one learning opportunity and :data:`RECOGNITION` after it (where the XSD puts it)."""
    xml = etree.tostring(build_elmo(_los(), namespace=V2), encoding="unicode")
    return etree.fromstring(xml.replace("<issueDate>", RECOGNITION + "<issueDate>", 1).encode("utf-8"))


def _contents(document: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(preferred_text(attachment.titles), content.to_json()) for attachment, content in document.contents()]


# --- conformance: 2.0 or 2.1.1 -------------------------------------------------------------------------------


def test_a_valid_2_1_1_document_gets_no_xsd_warning(shared_elmo: Path) -> None:
    for root in (_graduate(), _graduate(alternative_name=None, document_type=None, country_of_birth=None)):
        assert check_conformance(root, "v2", str(shared_elmo)) == []
    proof = Enrolment(ATHENS, dt.date(2023, 8, 15), dt.date(2024, 8, 1), dt.date(2025, 7, 31))
    assert check_conformance(_graduate(document_type="Enrolment", enrolment=proof), "v2", str(shared_elmo)) == []


def test_with_the_recognition_the_2_1_1_document_is_still_valid(shared_elmo: Path) -> None:
    xml = build_elmo_21(given_names="A", family_name="B", birth_date=BIRTH).replace(
        b"<issueDate>", RECOGNITION.encode("utf-8") + b"<issueDate>", 1
    )
    assert check_conformance(etree.fromstring(xml), "v2", str(shared_elmo)) == []


def _as_elmo_2_0(root: etree._Element) -> etree._Element:
    """The same document as ELMO 2.0 writes it: no 2.1 elements, alpha-2 countries without a type."""
    for local in ("bday", "countryOfBirth", "documentType", "duration"):
        for element in root.iter(f"{{{V2}}}{local}"):
            element.getparent().remove(element)  # type: ignore[union-attr]
    for element in root.iter(f"{{{V2}}}citizenship", f"{{{V2}}}country"):
        element.attrib.pop("type", None)
        element.text = country_code(element.text)
    return root


def test_a_valid_2_0_document_gets_no_xsd_warning_either(shared_elmo: Path) -> None:
    root = _as_elmo_2_0(_graduate())
    assert check_conformance(root, "v2", str(shared_elmo)) == []
    assert check_conformance(_graduate(), "v2", str(shared_elmo)) == []


def test_a_document_that_fits_neither_gets_the_closest_schemas_violations(shared_elmo: Path) -> None:
    xml = etree.tostring(_graduate()).replace(b"<url>https://www.uoa.gr</url>", b"")
    messages = [notice.message for notice in check_conformance(etree.fromstring(xml), "v2", str(shared_elmo))]
    assert len(messages) == 1 and "url" in messages[0]  # 2.1.1: only the url; 2.0 would add the 2.1 elements
    old = etree.tostring(_as_elmo_2_0(_graduate())).replace(b"<url>https://www.uoa.gr</url>", b"")
    messages = [notice.message for notice in check_conformance(etree.fromstring(old), "v2", str(shared_elmo))]
    assert len(messages) == 1 and "url" in messages[0]  # 2.0: only the url


def test_the_2_1_1_imports_resolve_without_the_maps_entries_for_them(shared_elmo: Path, tmp_path: Path) -> None:
    """The package knows where ELMO 2.1.1's relative imports are: an older import map is enough."""
    copy = tmp_path / "elmo"
    shutil.copytree(shared_elmo, copy)
    mapping = json.loads((copy / IMPORT_MAP).read_text(encoding="utf-8"))
    older = {url: target for url, target in mapping.items() if not url.startswith("../")}
    (copy / IMPORT_MAP).write_text(json.dumps(older), encoding="utf-8")
    assert missing_schema_files(str(copy)) == []
    assert check_conformance(_graduate(), "v2", str(copy)) == []


def test_a_folder_without_the_2_1_1_schema_lacks_it_but_still_checks_2_0(shared_elmo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elmo"
    shutil.copytree(shared_elmo, copy)
    shutil.rmtree(copy / "elmo-schemas" / "v2.1.1")
    assert missing_schema_files(str(copy)) == ["elmo-schemas/v2.1.1/schema.xsd"]
    assert check_conformance(_as_elmo_2_0(_graduate()), "v2", str(copy)) == []
    assert check_conformance(_graduate(), "v2", str(copy)) != []  # only 2.0 left to fit
