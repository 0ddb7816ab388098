from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from emrex_emc.core.elmo.reader import read_elmo
from emrex_emc.core.elmo.versions import NAMESPACE_PREFIX, detect_version
from emrex_emc.core.errors import EmrexError, ErrorCode

Build = Callable[..., etree._Element]


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [("v1", "v1"), ("v1.3.0", "v1.3.0"), ("v2", "v2")],
)
def test_detects_supported_namespaces(build: Build, suffix: str, expected: str) -> None:
    root = build(namespace=NAMESPACE_PREFIX + suffix)
    assert detect_version(root) == expected
    document = read_elmo(root)
    assert document.version == expected
    assert document.namespace == NAMESPACE_PREFIX + suffix
    assert document.learner.family_name == "Lovelace"
    assert document.reports[0].issuer.country == "GB"


def test_prefixed_elements_are_read_like_default_namespace() -> None:
    root = etree.fromstring(
        f"<x:elmo xmlns:x='{NAMESPACE_PREFIX}v1'><x:learner><x:givenNames>Jens</x:givenNames>"
        "<x:familyName>Hansen</x:familyName></x:learner></x:elmo>"
    )
    assert read_elmo(root).learner.given_names == "Jens"


def test_elements_of_another_namespace_are_ignored() -> None:
    root = etree.fromstring(
        f"<elmo xmlns='{NAMESPACE_PREFIX}v1' xmlns:o='urn:other'><o:learner><o:givenNames>Evil</o:givenNames>"
        "</o:learner><learner><givenNames>Good</givenNames><familyName>F</familyName></learner></elmo>"
    )
    assert read_elmo(root).learner.given_names == "Good"


@pytest.mark.parametrize(
    ("xml", "fragment"),
    [
        ("<elmo xmlns='http://purl.org/net/elmo'/>", "legacy namespace http://purl.org/net/elmo"),
        ("<elmo/>", "has no namespace"),
        (f"<elmo xmlns='{NAMESPACE_PREFIX}v3'/>", f"namespace {NAMESPACE_PREFIX}v3"),
        ("<elmo xmlns='https://example.org/elmo'/>", "namespace https://example.org/elmo"),
    ],
)
def test_other_namespaces_are_unsupported(xml: str, fragment: str) -> None:
    with pytest.raises(EmrexError) as caught:
        detect_version(etree.fromstring(xml))
    assert caught.value.code is ErrorCode.UNSUPPORTED_FORMAT
    assert fragment in caught.value.message
    assert f"{NAMESPACE_PREFIX}v1" in caught.value.message  # says which ones are supported
    with pytest.raises(EmrexError):
        read_elmo(etree.fromstring(xml))


@pytest.mark.parametrize("xml", ["<html/>", f"<report xmlns='{NAMESPACE_PREFIX}v1'/>"])
def test_non_elmo_root_is_not_elmo(xml: str) -> None:
    with pytest.raises(EmrexError) as caught:
        detect_version(etree.fromstring(xml))
    assert caught.value.code is ErrorCode.NOT_ELMO


def test_legacy_real_documents_are_unsupported(load: Callable[[str], etree._Element], legacy_document: str) -> None:
    with pytest.raises(EmrexError) as caught:
        read_elmo(load(legacy_document))
    assert caught.value.code is ErrorCode.UNSUPPORTED_FORMAT
    assert "http://purl.org/net/elmo" in caught.value.message


@pytest.mark.parametrize(
    ("element", "value", "expected"),
    [
        ("bday", "1815-12-10", date(1815, 12, 10)),
        ("dateOfBirth", "1815-12-10", date(1815, 12, 10)),
        ("bday", "1815-12-10+01:00", date(1815, 12, 10)),
        ("dateOfBirth", "1815-12-10Z", date(1815, 12, 10)),
        ("dateOfBirth", "1815-12-10T00:00:00-05:00", date(1815, 12, 10)),
    ],
)
def test_birth_date_from_bday_or_date_of_birth_timezone_stripped(
    build: Build, element: str, value: str, expected: date
) -> None:
    learner = f"<learner><givenNames>A</givenNames><familyName>B</familyName><{element}>{value}</{element}></learner>"
    assert read_elmo(build(namespace=NAMESPACE_PREFIX + "v2", learner=learner)).learner.birth_date == expected


def test_invalid_birth_date_is_a_notice_without_the_value(build: Build) -> None:
    learner = "<learner><givenNames>A</givenNames><familyName>B</familyName><bday>1998-00-00</bday></learner>"
    document = read_elmo(build(learner=learner))
    assert document.learner.birth_date is None
    [notice] = [n for n in document.notices if n.code == "VALUE_INVALID"]
    assert "learner/bday" in notice.message
    assert "1998" not in notice.message


@pytest.mark.parametrize("scheme", ["ECTS", "ects", "Ects", " ects "])
def test_ects_scheme_is_case_insensitive(build: Build, course_xml: Callable[..., str], scheme: str) -> None:
    body = course_xml(ects=None, extra_loi=f"<credit><scheme>{scheme}</scheme><value>6</value></credit>")
    document = read_elmo(build(body))
    credit = document.reports[0].learning_opportunities[0].instance.credits[0]  # type: ignore[union-attr]
    assert credit.is_ects
    assert document.summary.total_ects == "6"


def test_other_credit_schemes_are_not_ects(build: Build, course_xml: Callable[..., str]) -> None:
    body = course_xml(ects=None, extra_loi="<credit><scheme>hp</scheme><value>6</value></credit>")
    document = read_elmo(build(body))
    assert document.summary.total_ects == "0"


@pytest.mark.parametrize(("raw", "expected"), [("7,5", "7.5"), ("7.5", "7.5"), ("10.000", "10"), (" 2,25 ", "2.25")])
def test_credit_decimals_with_comma_or_dot(
    build: Build, course_xml: Callable[..., str], raw: str, expected: str
) -> None:
    document = read_elmo(build(course_xml(ects=raw)))
    instance = document.reports[0].learning_opportunities[0].instance
    assert instance is not None
    assert instance.ects == Decimal(expected)
    assert document.to_json()["reports"][0]["learning_opportunities"][0]["instance"]["ects"] == expected


@pytest.mark.parametrize("raw", ["seven", "NaN", "Infinity", "1.2.3"])
def test_invalid_credit_value_is_dropped_with_notice(build: Build, course_xml: Callable[..., str], raw: str) -> None:
    document = read_elmo(build(course_xml(ects=raw)))
    instance = document.reports[0].learning_opportunities[0].instance
    assert instance is not None
    assert instance.credits[0].value is None
    assert any(n.code == "VALUE_INVALID" and "credit/value" in n.message for n in document.notices)
