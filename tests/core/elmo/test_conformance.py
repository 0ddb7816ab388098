from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from emrex_emc.core.elmo.conformance import MAX_VIOLATIONS, _OfflineResolver, check_conformance
from emrex_emc.core.elmo.versions import detect_version

Load = Callable[[str], etree._Element]


def test_danish_document_yields_xsd_notices(load: Load, shared_elmo: Path) -> None:
    root = load("test-vectors/dk-kmd-2017/elmo-tomcat-signed.xml")
    notices = check_conformance(root, detect_version(root), str(shared_elmo))
    assert notices
    assert {n.code for n in notices} == {"XSD_VIOLATION"}
    messages = " ".join(n.message for n in notices)
    assert "issuer" in messages  # the issuer has no url
    assert "'Bachelor', 'Master', 'PhD'" in messages  # credit level "-"


@pytest.mark.parametrize("example", ["v1.1.0", "v1.4.0"])
def test_valid_official_example_yields_no_notice(load: Load, shared_elmo: Path, example: str) -> None:
    root = load(f"elmo-schemas/{example}/example.xml")
    assert check_conformance(root, "v1", str(shared_elmo)) == []


def test_v2_document_is_checked_against_the_v2_schema(shared_elmo: Path, build: Callable[..., etree._Element]) -> None:
    root = build(namespace="https://github.com/emrex-eu/elmo-schemas/tree/v2")
    messages = [n.message for n in check_conformance(root, "v2", str(shared_elmo))]
    # the v2 XSD wants dateOfBirth/alternativeName, so the v1-style learner is reported, not rejected
    assert any("bday" in m for m in messages)


def test_v1_3_0_namespace_is_validated_as_v1_with_the_1_3_0_schema(
    shared_elmo: Path, build: Callable[..., etree._Element], course_xml: Callable[..., str]
) -> None:
    root = build(course_xml(), namespace="https://github.com/emrex-eu/elmo-schemas/tree/v1.3.0")
    messages = [n.message for n in check_conformance(root, "v1.3.0", str(shared_elmo))]
    # the root is recognised (namespace mapped); the 1.3.0 XSD's known bug makes <grouping> mandatory
    assert not any("No matching global declaration" in m for m in messages)
    assert any("grouping" in m for m in messages)
    assert any("Signature" in m for m in messages)  # mandatory before 1.5
    assert "v1.3.0" in root.tag  # the caller's tree is untouched


def test_violations_are_capped_with_a_summary(shared_elmo: Path, build: Callable[..., etree._Element]) -> None:
    bad = "<learningOpportunitySpecification><bogus/></learningOpportunitySpecification>" * (MAX_VIOLATIONS + 5)
    notices = check_conformance(build(bad), "v1", str(shared_elmo))
    assert len(notices) == MAX_VIOLATIONS + 1
    assert notices[-1].message == "5 more XSD violations were not listed"


def test_quoted_values_are_redacted(shared_elmo: Path, build: Callable[..., etree._Element]) -> None:
    learner = "<learner><givenNames>A</givenNames><familyName>B</familyName><bday>1998-00-00</bday></learner>"
    messages = [n.message for n in check_conformance(build(learner=learner), "v1", str(shared_elmo))]
    assert any("bday" in m for m in messages)
    assert not any("1998" in m for m in messages)


@pytest.mark.parametrize("xsd_dir", [None, "", "/nonexistent/elmo"])
def test_no_schema_folder_means_no_check(load: Load, xsd_dir: str | None) -> None:
    root = load("test-vectors/dk-kmd-2017/elmo-tomcat-signed.xml")
    assert check_conformance(root, "v1", xsd_dir) == []


def test_schemas_resolve_offline_only(shared_elmo: Path, tmp_path: Path, load: Load) -> None:
    """Without the import map entries the remote imports must fail, never be fetched."""
    copy = tmp_path / "elmo"
    shutil.copytree(shared_elmo / "elmo-schemas" / "v1.7.0", copy / "elmo-schemas" / "v1.7.0")
    (copy / "offline-import-map.json").write_text("{}", encoding="utf-8")
    notices = check_conformance(load("elmo-schemas/v1.4.0/example.xml"), "v1", str(copy))
    assert [n.code for n in notices] == ["XSD_UNAVAILABLE"]


def test_resolver_maps_urls_and_suffixes_inside_the_folder_only(shared_elmo: Path) -> None:
    resolver = _OfflineResolver(shared_elmo, {"http://www.w3.org/2001/03/xml.xsd": "w3c/xml.xsd"})
    assert resolver.local_path("http://www.w3.org/2001/03/xml.xsd") == (shared_elmo / "w3c/xml.xsd").resolve()
    relative = str(shared_elmo / "elmo-schemas/v1.3.0/references/xmldsig-core-schema.xsd")
    assert resolver.local_path(relative) == (shared_elmo / "elmo-schemas/references/xmldsig-core-schema.xsd").resolve()
    assert resolver.local_path("https://evil.example/schema.xsd") is None
    assert resolver.local_path("/etc/passwd") is None
