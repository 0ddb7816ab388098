from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from lxml import etree

from emrex_emc.core.elmo.reader import read_elmo


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(resources.files("emrex_emc.schemas").joinpath("elmo-results.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_real_document_matches_the_schema(
    validator: Draft202012Validator, load: Callable[[str], etree._Element], real_document: str
) -> None:
    validator.validate(read_elmo(load(real_document)).to_json())


def test_synthetic_document_with_every_feature_matches(
    validator: Draft202012Validator, build: Callable[..., etree._Element], course_xml: Callable[..., str]
) -> None:
    loi = (
        "<identifier type='ewp-loi-id'>x</identifier><start>2020-01-01</start><date>2020-06-01+02:00</date>"
        "<academicTerm><title xml:lang='en'>Spring</title><start>2020-01-01</start><end>2020-06-30</end></academicTerm>"
        "<status>passed</status><gradingSchemeLocalId>g</gradingSchemeLocalId><resultLabel>5</resultLabel>"
        "<level><type>EQF</type><value>6</value></level><languageOfInstruction>en</languageOfInstruction>"
        "<engagementHours>30,5</engagementHours><attachments><ref>a</ref></attachments>"
        "<grouping typeref='1' idref='2'/>"
    )
    los = "<descriptionHtml>&lt;b&gt;x&lt;/b&gt;&lt;script&gt;&lt;/script&gt;</descriptionHtml>"
    attachment = "<attachment><type>Other</type><content>data:text/plain;base64,aGVsbG8=</content></attachment>"
    root = build(
        course_xml(extra_loi=loi, extra_los=los),
        report_extra="<gradingScheme localId='g'><description>1-5</description></gradingScheme>" + attachment,
        top=attachment + "<groups><groupType id='1'><group id='2'/></groupType></groups>",
    )
    data = read_elmo(root).to_json()
    validator.validate(data)
    assert data["notices"] == [{"code": "HTML_SANITIZED", "message": data["notices"][0]["message"]}]


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    def set_(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
        def apply(data: dict[str, Any]) -> None:
            target: Any = data
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return apply

    return [
        ("unknown top-level key", set_(["extra"], 1)),
        ("bad version", set_(["elmo_version"], "v9")),
        ("decimal as number", set_(["summary", "total_ects"], 45)),
        ("bad birth date", set_(["learner", "birth_date"], "09/12/1980")),
        ("missing learner", lambda d: d.pop("learner")),
        ("bytes in attachment", set_(["attachments", 0, "contents", 0, "data"], "JVBERi0=")),
        ("bad sha256", set_(["attachments", 0, "contents", 0, "sha256"], "xyz")),
        ("alternative name as a string", set_(["learner", "alternative_name"], "Γεώργιος")),
        ("alpha-3 citizenship", set_(["learner", "citizenship"], "GRC")),
        ("country of birth as a URI", set_(["learner", "country_of_birth"], "http://x/GRC")),
        ("unknown document type", set_(["reports", 0, "learning_opportunities", 0, "document_type"], "Transcript")),
        ("missing document type", lambda d: d["reports"][0]["learning_opportunities"][0].pop("document_type")),
        ("empty enrolment", set_(["reports", 0, "learning_opportunities", 0, "instance", "enrolment"], {})),
        ("result of recognition as an object", set_(["reports", 0, "result_of_recognition"], {})),
        ("document types not a list", set_(["summary", "document_types"], "Diploma")),
    ]


@pytest.mark.parametrize(("name", "mutate"), _mutations())
def test_schema_rejects_wrong_shapes(
    validator: Draft202012Validator,
    load: Callable[[str], etree._Element],
    name: str,
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    data = read_elmo(load("test-vectors/dk-kmd-2017/elmo-tomcat-signed.xml")).to_json()
    mutate(data)
    with pytest.raises(ValidationError):
        validator.validate(data)


def test_every_property_is_described() -> None:
    schema = json.loads(resources.files("emrex_emc.schemas").joinpath("elmo-results.schema.json").read_text("utf-8"))
    assert schema["description"]
    for name, definition in schema["$defs"].items():
        assert definition.get("description"), name
