"""Fixtures for the ELMO tests: the real documents in ../shared/elmo and a builder for small documents."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

SHARED_ELMO = Path(__file__).resolve().parents[3].parent / "shared" / "elmo"
V1 = "https://github.com/emrex-eu/elmo-schemas/tree/v1"
V2 = "https://github.com/emrex-eu/elmo-schemas/tree/v2"
V130 = "https://github.com/emrex-eu/elmo-schemas/tree/v1.3.0"

REAL_DOCUMENTS = (
    "test-vectors/dk-kmd-2017/elmo-tomcat-signed.xml",
    "test-vectors/dk-kmd-2017/elmo-tomcat-signed-beautified.xml",
    "test-vectors/dk-kmd-2017/elmo-tomcat-unsigned.xml",
    "test-vectors/dk-kmd-2017/elmo-wl-signed.xml",
    "test-vectors/dk-kmd-2017/elmo-tomcat-signed-zipped-base64.txt",
    "test-vectors/dk-kmd-2017/elmo-wl-signed-zipped-base64.txt",
    "test-vectors/no-sikt-gateway-2023/sampleElmo.b64",
    "samples/fi-emrex/nor-emrex-1.0.xml",
    "samples/fi-emrex/swedish_1_elmo1.0.xml",
    "elmo-schemas/v1.0.0/example.xml",
    "elmo-schemas/v1.1.0/example.xml",
    "elmo-schemas/v1.2/example.xml",
    "elmo-schemas/v1.3.0/example.xml",
    "elmo-schemas/v1.4.0/example.xml",
)
"""Every real document in an accepted namespace (the purl.org ones are tested as UNSUPPORTED)."""
LEGACY_DOCUMENTS = (
    "test-vectors/fi-csc-kaisa-2015/elmo_vastaus_base64_gzipped.txt",
    "samples/emp-mockup/elmo_example.xml",
)


def decode_payload(raw: bytes) -> bytes:
    """Test helper: raw XML, base64 of XML, or base64 of gzip -> XML bytes."""
    if raw.lstrip().startswith(b"<"):
        return raw
    data = base64.b64decode(b"".join(raw.split()))
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def load_root(relative: str) -> etree._Element:
    xml = decode_payload((SHARED_ELMO / relative).read_bytes())
    try:
        return etree.fromstring(xml)
    except etree.XMLSyntaxError:  # the Danish WebLogic document: Latin-1 bytes declared as UTF-8
        return etree.fromstring(xml, etree.XMLParser(encoding="iso-8859-1"))


@pytest.fixture(scope="session")
def shared_elmo() -> Path:
    if not SHARED_ELMO.is_dir():
        pytest.skip(f"shared ELMO data not found at {SHARED_ELMO}")
    return SHARED_ELMO


@pytest.fixture(scope="session")
def load(shared_elmo: Path) -> Callable[[str], etree._Element]:
    return load_root


LEARNER = "<learner><givenNames>Ada</givenNames><familyName>Lovelace</familyName><bday>1815-12-10</bday></learner>"
ISSUER = (
    "<issuer><country>GB</country><identifier type='schac'>example.ac.uk</identifier>"
    "<title xml:lang='en'>Example University</title><url>https://example.ac.uk</url></issuer>"
)


def course(title: str = "Analysis", ects: str | None = "5", extra_loi: str = "", extra_los: str = "") -> str:
    credit = f"<credit><scheme>ects</scheme><value>{ects}</value></credit>" if ects is not None else ""
    return (
        f"<learningOpportunitySpecification><title xml:lang='en'>{title}</title><type>Course</type>{extra_los}"
        f"<specifies><learningOpportunityInstance>{credit}{extra_loi}</learningOpportunityInstance></specifies>"
        "</learningOpportunitySpecification>"
    )


def build_elmo(
    body: str = "",
    *,
    namespace: str = V1,
    learner: str = LEARNER,
    top: str = "",
    report_extra: str = "",
) -> etree._Element:
    """A small ELMO document: one report holding ``body`` (LOS elements), ``top`` after the report."""
    xml = (
        f"<elmo xmlns='{namespace}'><generatedDate>2024-05-01T10:00:00+02:00</generatedDate>{learner}"
        f"<report>{ISSUER}{body}<issueDate>2024-05-01T10:00:00+02:00</issueDate>{report_extra}</report>{top}</elmo>"
    )
    return etree.fromstring(xml.encode("utf-8"))


@pytest.fixture
def build() -> Callable[..., etree._Element]:
    return build_elmo


@pytest.fixture
def course_xml() -> Callable[..., str]:
    return course


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``real_document`` / ``legacy_document`` parameters: the relative paths of the shared documents."""
    if "real_document" in metafunc.fixturenames:
        metafunc.parametrize("real_document", REAL_DOCUMENTS)
    if "legacy_document" in metafunc.fixturenames:
        metafunc.parametrize("legacy_document", LEGACY_DOCUMENTS)
