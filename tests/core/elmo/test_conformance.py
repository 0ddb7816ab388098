from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from emrex_emc.core.elmo.conformance import (
    IMPORT_MAP,
    MAX_VIOLATIONS,
    SCHEMA_FILES,
    _OfflineResolver,
    check_conformance,
    missing_schema_files,
)
from emrex_emc.core.elmo.versions import detect_version
from emrex_emc.core.pipeline import verify_elmo
from emrex_emc.core.policy import PipelinePolicy
from emrex_emc.local.elmo_factory import SigningIdentity, generate_signing_identity, sign_elmo
from emrex_emc.local.elmo_factory import build_elmo as build_elmo_document

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


def _signed_with_unsigned_layout(identity: SigningIdentity, *, blank_lines: int = 3) -> bytes:
    """A signed document whose layout outside the canonical form differs from it: a prolog comment, a
    start tag spread over lines, a long comment between elements. None of it is signed, so it verifies,
    but the verified tree (the canonical form re-parsed) has other line numbers than the document."""
    xml = build_elmo_document(given_names="A", family_name="B", birth_date=dt.date(2000, 1, 1), courses=1)
    xml = xml.replace(b"<status>passed</status>", b"<status>passed</status><bogus/>", 1)
    signed = sign_elmo(xml, identity, style="ds-sha256-inclusive")
    signed = signed.replace(b"?>", b"?>\n<!--\n prolog\n-->\n", 1)
    signed = signed.replace(b"<elmo xmlns=", b"<elmo\n\n    xmlns=", 1)
    return signed.replace(b"<report>", b"<report><!--" + b"\n" * blank_lines + b"-->", 1)


@pytest.mark.parametrize("blank_lines", [3, 70_000], ids=["short", "beyond-65535-lines"])
def test_violations_carry_the_line_of_the_document_as_received(shared_elmo: Path, blank_lines: int) -> None:
    identity = generate_signing_identity("Lines EMP")
    document = _signed_with_unsigned_layout(identity, blank_lines=blank_lines)
    line = document[: document.index(b"<bogus/>")].count(b"\n") + 1
    result = verify_elmo(document, [identity.cert_pem], PipelinePolicy(), xsd_dir=str(shared_elmo))
    [bogus] = [n.message for n in result.notices if "'bogus'" in n.message]
    assert bogus.startswith(f"line {line}: Element 'bogus': This element is not expected.")
    assert line > blank_lines


def test_violations_on_a_tree_of_its_own_keep_its_lines(
    build: Callable[..., etree._Element], shared_elmo: Path
) -> None:
    root = etree.fromstring(etree.tostring(build("<bogus/>"), pretty_print=True))
    [notice] = check_conformance(root, "v1", str(shared_elmo))
    assert notice.message.startswith(f"line {root.find('.//{*}bogus').sourceline}: Element 'bogus'")


def test_missing_schema_files(shared_elmo: Path, tmp_path: Path) -> None:
    assert missing_schema_files(str(shared_elmo)) == []
    assert missing_schema_files(str(tmp_path)) == [IMPORT_MAP]
    copy = tmp_path / "elmo"
    shutil.copytree(shared_elmo / "elmo-schemas" / "v1.7.0", copy / "elmo-schemas" / "v1.7.0")
    shutil.copy(shared_elmo / IMPORT_MAP, copy / IMPORT_MAP)
    missing = missing_schema_files(str(copy))
    assert SCHEMA_FILES["v2"] in missing and "w3c/xml.xsd" in missing
    assert SCHEMA_FILES["v1"] not in missing


def test_a_malformed_import_map_is_missing_and_never_a_crash(tmp_path: Path, load: Load, shared_elmo: Path) -> None:
    shutil.copytree(shared_elmo / "elmo-schemas" / "v1.7.0", tmp_path / "elmo-schemas" / "v1.7.0")
    (tmp_path / IMPORT_MAP).write_text('["not", "an", "object"]', encoding="utf-8")
    assert missing_schema_files(str(tmp_path)) == [IMPORT_MAP]
    notices = check_conformance(load("elmo-schemas/v1.4.0/example.xml"), "v1", str(tmp_path))
    assert [n.code for n in notices] == ["XSD_UNAVAILABLE"]


def test_an_xsd_error_path_leads_to_its_element_whatever_it_selects() -> None:
    """Errors name elements, attributes or texts; the warning's line number is that of the element."""
    from emrex_emc.core.elmo.conformance import _node_at

    tree = etree.fromstring(b'<a>\n<b x="1">t</b></a>').getroottree()
    found = [_node_at(tree, path, {}) for path in ("/a/b", "/a/b/@x", "/a/b/text()")]
    assert [(node.tag, node.sourceline) for node in found if node is not None] == [("b", 2)] * 3
    assert [_node_at(tree, path, {}) for path in ("count(/a)", "/a/b/@missing", "/a/b[", None)] == [None] * 4
