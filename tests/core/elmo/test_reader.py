from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lxml import etree

from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.elmo.elements import make
from emrex_emc.core.elmo.model import Credit, ElmoDocument, LearningOpportunity
from emrex_emc.core.elmo.reader import read_elmo
from tests.core.elmo.reader_corpus import all_documents

Load = Callable[[str], etree._Element]
Build = Callable[..., etree._Element]


def _find(document: ElmoDocument, local_id: str) -> LearningOpportunity:
    for report in document.reports:
        for los in report.all_learning_opportunities():
            if any(i.type == "local" and i.value == local_id for i in los.identifiers):
                return los
    raise AssertionError(f"no LOS with local id {local_id}")


def test_every_real_document_reads_deterministically(load: Load, real_document: str) -> None:
    first = read_elmo(load(real_document))
    second = read_elmo(load(real_document))
    assert first.version == "v1"
    assert first.reports
    assert canonical_json(first.to_json()) == canonical_json(second.to_json())
    text = json.dumps(first.to_json())
    assert "base64," not in text  # attachment bytes never reach the JSON


def test_danish_document(load: Load) -> None:
    document = read_elmo(load("test-vectors/dk-kmd-2017/elmo-tomcat-signed.xml"))
    learner = document.learner
    assert (learner.given_names, learner.family_name, learner.birth_date) == ("Jens", "Hansen", date(1980, 12, 9))
    assert learner.citizenship == "DK"
    assert [(i.type, i.value) for i in learner.identifiers][1:] == [
        ("studentIdentifier", "4"),
        ("stadsIdentifier", "697"),
    ]
    assert document.generated_date == datetime(2017, 1, 9, 10, 4, 48, 173000, tzinfo=timezone(timedelta(hours=1)))
    report = document.reports[0]
    assert report.issuer.url is None
    assert report.issuer.titles[0].value == "TODO : Issuer unknown"
    coffee = _find(document, "EJK-KHE")
    assert coffee.titles[0].value == "Kaffens Historie"
    instance = coffee.instance
    assert instance is not None
    assert instance.start == date(2009, 9, 25)  # "2009-09-25+02:00": timezone stripped
    assert instance.result_label == "10"
    assert instance.status == "passed" and not instance.status_declared
    assert instance.credits[0].scheme == "ECTS" and instance.credits[0].level == "-"
    assert instance.ects == Decimal(10)
    assert instance.academic_term is not None
    assert instance.academic_term.titles[0].value == "F10"
    assert instance.academic_term.end == date(2010, 8, 31)
    assert _find(document, "EJK-HØE").titles[0].value == "Høst"
    assert document.summary.to_json() == {
        "issuers": [
            {
                "name": "TODO : Issuer unknown",
                "country": "DK",
                "identifiers": [{"type": "local", "value": "TODO : Issuer ID unknown"}],
            }
        ],
        "course_count": 5,
        "total_ects": "45",
        "report_count": 1,
        "attachment_count": 1,
        "document_types": [],
    }
    [content] = document.attachments[0].contents
    assert (content.mime_type, content.declared_mime_type, content.encoding) == (
        "application/pdf",
        "application/pdf",
        "data_uri",
    )
    assert content.data.startswith(b"%PDF-1.4")
    assert document.attachments[0].type == "EMREX transcript"
    assert document.notices == ()


def test_danish_weblogic_latin1_document_reads_the_same_names(load: Load) -> None:
    tomcat = read_elmo(load("test-vectors/dk-kmd-2017/elmo-tomcat-signed.xml"))
    weblogic = read_elmo(load("test-vectors/dk-kmd-2017/elmo-wl-signed-zipped-base64.txt"))
    assert _find(weblogic, "EJK-HØE").titles[0].value == "Høst"
    assert weblogic.learner == tomcat.learner
    assert weblogic.summary.total_ects == tomcat.summary.total_ects


def test_norwegian_sikt_document(load: Load) -> None:
    document = read_elmo(load("test-vectors/no-sikt-gateway-2023/sampleElmo.b64"))
    assert document.learner.birth_date == date(1991, 1, 20)
    issuer = document.reports[0].issuer
    assert [(i.type, i.value) for i in issuer.identifiers] == [
        ("local", "185"),
        ("erasmus", "N OSLO01"),
        ("schac", "uio.no"),
        ("pic", "999975814"),
    ]
    assert [(t.lang, t.value) for t in issuer.titles] == [("no", "Universitetet i Oslo"), ("en", "University of Oslo")]
    assert issuer.url == "https://www.uio.no/"
    testing = _find(document, "INF4000-1")
    assert (testing.subject_area, testing.isced_code, testing.type) == ("11.3", "0613", "Course")
    instance = testing.instance
    assert instance is not None
    assert instance.completion_date == date(2019, 7, 15)
    assert instance.status_declared and instance.status == "passed"
    assert instance.grading_scheme_local_id == "30"
    assert instance.grading_scheme[0].value.startswith("A \u2013 Excellent")
    assert instance.result_label == "A"
    assert instance.engagement_hours == Decimal("0.0")
    assert [(lv.type, lv.value, lv.description) for lv in instance.levels] == [
        ("EQF", "7", "European Qualification Framework")
    ]
    assert instance.academic_term is not None
    assert [t.lang for t in instance.academic_term.titles] == ["no", "nn", "en"]
    fire = _find(document, "HMS0507-1")
    assert fire.url == "http://www.uio.no/studier/emner/matnat/kjemi/HMS0507/"
    assert fire.instance is not None and fire.instance.result_label == "Bestått"
    [group_type] = document.group_types
    assert group_type.id == "185" and group_type.titles[0].value == "Emnekategori"
    assert [(g.id, g.sorting_key) for g in group_type.groups] == [
        ("FRIEEMNER", "100"),
        ("EXPHIL", "0"),
        ("120SP", "12"),
    ]
    assert document.summary.total_ects == "20"
    assert document.summary.attachment_count == 0


def test_swedish_document_counts_the_top_credited_nodes_only(load: Load) -> None:
    document = read_elmo(load("samples/fi-emrex/swedish_1_elmo1.0.xml"))
    assert document.learner.family_name == "Jönsson"
    assert document.reports[0].issue_date == date(2015, 12, 17)
    top = document.reports[0].learning_opportunities
    assert [(los.type, los.instance.ects if los.instance else None) for los in top] == [
        ("Degree Programme", Decimal("180.0")),
        ("Module", Decimal(180)),
    ]
    algebra = _find(document, "5MA019")
    assert algebra.instance is not None and algebra.instance.ects == Decimal("7.5")
    assert algebra.parts[0].type == "Class" and not algebra.parts[0].is_course
    summary = document.summary.to_json()
    assert summary["course_count"] == 41
    assert summary["total_ects"] == "360"  # two sibling top-level nodes of 180; their courses are not added again


def test_official_example_v1_4(load: Load) -> None:
    document = read_elmo(load("elmo-schemas/v1.4.0/example.xml"))
    assert document.learner.given_names == "Wojciech Łukasz"
    report = document.reports[0]
    biology = _find(document, "MNM2-BIO")
    assert biology.instance is not None and biology.instance.has_diploma_supplement
    assert document.has_diploma_supplement
    compilers = _find(document, "1000-217bMRJ")
    assert compilers.descriptions[0].value.startswith("This can contain a multiline description.\n\n")
    assert compilers.descriptions_html[0].value.startswith("<p>While the regular <code>&lt;description&gt;</code>")
    instance = compilers.instance
    assert instance is not None
    assert instance.credits[0].scheme == "ects" and instance.credits[0].level == "Bachelor"
    assert [lv.type for lv in instance.levels] == ["EQF", "NQF"]
    assert instance.language_of_instruction == "pl"
    assert [(g.typeref, g.idref) for g in instance.groupings] == [("2", "2")]
    assert instance.grading_scheme[0].value == "A number of the scale from 0.0 to 100.0 (one digit of precision)"
    assert [p.titles[1].value for p in compilers.parts] == ["Lecture", "Lab classes"]
    assert compilers.parts[0].instance is not None and compilers.parts[0].instance.engagement_hours == Decimal(30)
    queer = report.learning_opportunities[2]
    assert queer.titles[0].value == "The importance of <br> in HTML"  # CDATA and escapes are plain text
    assert queer.type is None and queer.is_course
    assert queer.instance is not None and queer.instance.attachment_refs == ("12345678", "87654321")
    assert [g.local_id for g in report.grading_schemes] == ["ZAL", "AM", "0-100"]
    assert report.attachments[1].identifiers[0].value == "87654321"
    assert document.attachments[0].titles[1].value == '"Globalny" załącznik'
    summary = document.summary.to_json()
    assert summary["course_count"] == 3  # EKSTERN, compilers, the untyped leaf; classes and the degree are not
    assert summary["total_ects"] == "126"  # degree 120 (not its 15-ECTS part again) + compilers 6
    assert summary["attachment_count"] == 3
    # the example's "data:application/pdf;base64,iiNh...": literal dots are not base64
    assert any(n.code == "ATTACHMENT_INVALID" for n in document.notices)


def test_in_progress_parent_counts_its_passed_parts(build: Build, course_xml: Callable[..., str]) -> None:
    parts = "".join(f"<hasPart>{course_xml(title=t, ects=e)}</hasPart>" for t, e in (("A", "5"), ("B", "7,5")))
    programme = (
        "<learningOpportunitySpecification><title>P</title><type>Degree Programme</type>"
        "<specifies><learningOpportunityInstance><status>in-progress</status>"
        "<credit><scheme>ECTS</scheme><value>180</value></credit></learningOpportunityInstance></specifies>"
        f"{parts}</learningOpportunitySpecification>"
    )
    failed = course_xml(title="F", ects="3", extra_loi="<status>failed</status>")
    summary = read_elmo(build(programme + failed)).summary.to_json()
    assert summary["total_ects"] == "12.5"
    assert summary["course_count"] == 3


def test_learner_extras_and_v2_fields(build: Build) -> None:
    learner = (
        "<learner><citizenship>FI</citizenship>"
        "<identifier type='esi'>urn:schac:personalUniqueCode:int:esi:x</identifier>"
        "<givenNames>Kaisa</givenNames><familyName>Virtanen</familyName><dateOfBirth>1990-02-03</dateOfBirth>"
        "<placeOfBirth>Espoo</placeOfBirth><birthName>Keränen</birthName><gender>2</gender></learner>"
    )
    document = read_elmo(build(namespace="https://github.com/emrex-eu/elmo-schemas/tree/v2", learner=learner))
    data = document.to_json()["learner"]
    assert data == {
        "given_names": "Kaisa",
        "family_name": "Virtanen",
        "alternative_name": None,
        "birth_date": "1990-02-03",
        "citizenship": "FI",
        "country_of_birth": None,
        "gender": "2",
        "place_of_birth": "Espoo",
        "birth_name": "Keränen",
        "identifiers": [{"type": "esi", "value": "urn:schac:personalUniqueCode:int:esi:x"}],
    }


def test_missing_learner_is_a_notice_not_a_crash() -> None:
    root = etree.fromstring("<elmo xmlns='https://github.com/emrex-eu/elmo-schemas/tree/v1'/>")
    document = read_elmo(root)
    assert document.learner.given_names == "" and document.learner.birth_date is None
    assert {n.code for n in document.notices} == {"LEARNER_MISSING", "VALUE_MISSING"}
    assert document.summary.total_ects == "0"


def test_odd_values_never_crash(build: Build) -> None:
    body = (
        "<learningOpportunitySpecification><specifies><learningOpportunityInstance>"
        "<start>soon</start><date>2020-13-45</date><credit><value>1</value></credit><engagementHours>x</engagementHours>"
        "<academicTerm><start/></academicTerm><grouping/><attachments><ref/></attachments>"
        "</learningOpportunityInstance></specifies><hasPart/></learningOpportunitySpecification>"
    )
    document = read_elmo(build(body, report_extra="<gradingScheme/>", top="<attachment/><groups><groupType/></groups>"))
    instance = document.reports[0].learning_opportunities[0].instance
    assert instance is not None
    assert (instance.start, instance.completion_date, instance.engagement_hours) == (None, None, None)
    assert instance.credits[0].scheme == "" and not instance.credits[0].is_ects
    assert sum(1 for n in document.notices if n.code == "VALUE_INVALID") == 3
    json.dumps(document.to_json())


def test_identical_notices_are_merged(build: Build, course_xml: Callable[..., str]) -> None:
    body = "".join(course_xml(title=f"C{i}", extra_loi=f"<start>bad{i}</start>") for i in range(5))
    notices = read_elmo(build(body)).notices
    assert [n.code for n in notices] == ["VALUE_INVALID"]


def test_group_titles_and_generated_date(build: Build) -> None:
    top = (
        "<groups><groupType id='1'><title xml:lang='en'>By category</title>"
        "<group id='g' sortingKey='2'><title xml:lang='en'>Mandatory</title><title xml:lang='fi'>Pakolliset</title>"
        "</group></groupType></groups>"
    )
    document = read_elmo(build(top=top))
    assert document.to_json()["groups"] == [
        {
            "id": "1",
            "titles": [{"lang": "en", "value": "By category"}],
            "groups": [
                {
                    "id": "g",
                    "sorting_key": "2",
                    "titles": [{"lang": "en", "value": "Mandatory"}, {"lang": "fi", "value": "Pakolliset"}],
                }
            ],
        }
    ]
    assert document.to_json()["generated_date"] == "2024-05-01T10:00:00+02:00"


def _model_objects(value: object) -> Iterator[object]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield value
        for item in dataclasses.fields(value):
            yield from _model_objects(getattr(value, item.name))
    elif isinstance(value, tuple):
        for item in value:
            yield from _model_objects(item)


def test_every_model_object_equals_one_built_by_its_init() -> None:
    """The reader builds its hot-path objects without ``__init__`` (``reader.make``): none may lack a field."""
    documents = all_documents()
    kinds = set()
    for name in ("factory/v2/7", "crafted/notice-cap", *(f"random/{seed}" for seed in range(12))):
        for item in _model_objects(read_elmo(documents[name]())):
            kinds.add(type(item).__name__)
            assert set(vars(item)) == {f.name for f in dataclasses.fields(item)}  # type: ignore[arg-type]
            rebuilt = dataclasses.replace(item)  # type: ignore[type-var]
            assert rebuilt == item and hash(rebuilt) == hash(item)
    assert {"LearningOpportunity", "Instance", "Credit", "Identifier", "LocalizedText"} <= kinds


def test_make_sets_exactly_the_given_fields() -> None:
    credit = make(Credit, {"scheme": "ects", "value": Decimal(5), "level": None})
    assert credit == Credit("ects", Decimal(5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        credit.scheme = "x"  # type: ignore[misc]
