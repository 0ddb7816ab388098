"""EMP discovery: the EWP Registry catalogue (XML) and the legacy EMREG list (JSON) -> :class:`Emp`.

Pure: bytes in, EMPs out. A catalogue or list that cannot be read at all raises
``EmrexError(REGISTRY_INVALID)``; a single unusable entry (non-https URL, unreadable certificate,
missing field) is skipped and reported as a :class:`Notice`, so one broken EMP never hides the others.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.policy import XmlLimits
from emrex_emc.core.registry import Emp, emp_id
from emrex_emc.core.xmlsafe import parse_xml

PRODUCTION_CATALOGUE_URL = "https://registry.erasmuswithoutpaper.eu/catalogue-v1.xml"
CATALOGUE_NS = "https://github.com/erasmus-without-paper/ewp-specs-api-registry/tree/stable-v1"
DAP_NS = (
    "https://github.com/erasmus-without-paper/ewp-specs-api-emrex-data-access-point/blob/stable-v1/manifest-entry.xsd"
)
NCP_NS = "https://github.com/erasmus-without-paper/ewp-specs-api-emrex-ncp/blob/stable-v1/manifest-entry.xsd"
EMREX_ENTRY_NAMESPACES = frozenset({DAP_NS, NCP_NS})
"""Namespaces of the ``emrex-data-access-point`` manifest entry seen in the wild (emrex-protocol.md §6.1)."""
ENTRY_LOCAL_NAME = "emrex-data-access-point"
MAX_REGISTRY_BYTES = 20 * 1024 * 1024
MAX_ELEMENTS = 2_000_000

NOTICE_ENTRY_SKIPPED = "REGISTRY_ENTRY_SKIPPED"
NOTICE_CERTIFICATE_SKIPPED = "REGISTRY_CERTIFICATE_SKIPPED"
NOTICE_DUPLICATE = "REGISTRY_DUPLICATE_EMP"

_COUNTRY = re.compile(r"[A-Za-z]{2}")
_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class ParsedRegistry:
    emps: tuple[Emp, ...]
    notices: tuple[Notice, ...] = ()
    source: Literal["ewp", "emreg"] = "ewp"


class _SkipEntry(Exception):
    """One registry entry is unusable; the message says why."""


@dataclass
class _Collector:
    source: Literal["ewp", "emreg"]
    emps: dict[str, Emp] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)

    def notice(self, code: str, message: str) -> None:
        self.notices.append(Notice(code, message))

    def add(self, emp: Emp) -> None:
        if emp.id in self.emps:
            self.notice(NOTICE_DUPLICATE, f"{emp.name} ({emp.country}, {emp.url}) is listed twice; the first is kept")
            return
        self.emps[emp.id] = emp

    def result(self) -> ParsedRegistry:
        return ParsedRegistry(emps=tuple(self.emps.values()), notices=tuple(self.notices), source=self.source)


def _invalid(message: str) -> EmrexError:
    return EmrexError(ErrorCode.REGISTRY_INVALID, message)


def parse_registry(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """Detect the format (XML catalogue or JSON list) and parse it.

    ``allow_loopback_http`` (local mode only) accepts ``http://`` EMP URLs on loopback hosts, so a mock
    EMP on this machine can be listed; every other EMP URL must be https.
    """
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return parse_ewp_catalogue(data, allow_loopback_http=allow_loopback_http)
    if head.startswith((b"{", b"[")):
        return parse_emreg_json(data, allow_loopback_http=allow_loopback_http)
    if not head:
        raise _invalid("the registry document is empty")
    raise _invalid("the registry document is neither an EWP catalogue (XML) nor an EMREG list (JSON)")


# --- EWP catalogue --------------------------------------------------------------------------------


def _parse_xml(data: bytes) -> etree._Element:
    """The catalogue through the same hardened parser as ELMO documents (no DTD, entities, network)."""
    if len(data) > MAX_REGISTRY_BYTES:
        raise _invalid(f"the catalogue is larger than {MAX_REGISTRY_BYTES} bytes")
    try:
        return parse_xml(data, XmlLimits(max_depth=32, max_elements=MAX_ELEMENTS))
    except EmrexError as exc:
        raise _invalid(f"the catalogue is unreadable: {exc.message}") from None


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _texts(entry: etree._Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in entry if _local(child) == name]


def _one_text(entry: etree._Element, name: str) -> str:
    values = [v for v in _texts(entry, name) if v]
    if not values:
        raise _SkipEntry(f"has no <{name}>")
    return values[0]


def parse_ewp_catalogue(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """Every ``emrex-data-access-point`` entry of an EWP Registry catalogue (or manifest)."""
    root = _parse_xml(data)
    if _local(root) not in {"catalogue", "manifest"}:
        raise _invalid(f"the root element is <{_local(root)}>, expected an EWP <catalogue>")
    out = _Collector(source="ewp")
    for position, entry in enumerate(_emrex_entries(root, out), start=1):
        try:
            url = _emp_url(_one_text(entry, "url"), allow_loopback_http)
            name = _one_text(entry, "name")
            country = _country(_one_text(entry, "country-code"))
        except _SkipEntry as skip:
            out.notice(NOTICE_ENTRY_SKIPPED, f"EMREX entry #{position} {skip}; skipped")
            continue
        label = f"{name} ({country})"
        certificates = _der_certificates(_texts(entry, "certificate"), label, out)
        if not certificates:
            out.notice(NOTICE_ENTRY_SKIPPED, f"{label} has no readable certificate; skipped")
            continue
        institutions = tuple(value for value in _texts(entry, "institution") if value)
        out.add(
            Emp(
                id=emp_id(country, url),
                name=name,
                url=url,
                country=country,
                institutions=institutions,
                certificates=certificates,
                source="ewp",
            )
        )
    return out.result()


def _emrex_entries(root: etree._Element, out: _Collector) -> Iterator[etree._Element]:
    for element in root.iter():
        if _local(element) != ENTRY_LOCAL_NAME:
            continue
        namespace = etree.QName(element.tag).namespace
        if namespace in EMREX_ENTRY_NAMESPACES:
            yield element
        else:
            out.notice(NOTICE_ENTRY_SKIPPED, f"<{ENTRY_LOCAL_NAME}> in unknown namespace {namespace!r}; skipped")


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _emp_url(raw: str, allow_loopback_http: bool) -> str:
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return raw
    if allow_loopback_http and scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return raw
    raise _SkipEntry(f"has URL {raw!r}, which is not an absolute https URL")


def _country(raw: str) -> str:
    if not _COUNTRY.fullmatch(raw):
        raise _SkipEntry(f"has country code {raw!r}, expected two letters")
    return raw.upper()


def _der_certificates(values: Iterable[str], label: str, out: _Collector) -> tuple[bytes, ...]:
    certificates: list[bytes] = []
    for number, value in enumerate(values, start=1):
        try:
            der = base64.b64decode("".join(value.split()), validate=True)
            x509.load_der_x509_certificate(der)
        except (binascii.Error, ValueError) as exc:
            out.notice(NOTICE_CERTIFICATE_SKIPPED, f"{label}: certificate #{number} is unreadable ({exc}); skipped")
            continue
        if der not in certificates:
            certificates.append(der)
    return tuple(certificates)


def render_ewp_catalogue(emps: Iterable[Emp]) -> bytes:
    """A minimal valid EWP catalogue with one host per EMP (for the local runner and tests)."""
    nsmap: Any = {None: CATALOGUE_NS, "emrex": DAP_NS}  # lxml-stubs reject the None (default) prefix
    root = etree.Element(f"{{{CATALOGUE_NS}}}catalogue", nsmap=nsmap)
    for emp in emps:
        host = etree.SubElement(root, f"{{{CATALOGUE_NS}}}host")
        apis = etree.SubElement(host, f"{{{CATALOGUE_NS}}}apis-implemented")
        entry = etree.SubElement(apis, f"{{{DAP_NS}}}{ENTRY_LOCAL_NAME}", version="1.0.0")
        fields: list[tuple[str, str]] = [("url", emp.url), ("name", emp.name), ("country-code", emp.country)]
        fields += [("institution", institution) for institution in emp.institutions]
        fields += [("certificate", base64.b64encode(der).decode("ascii")) for der in emp.certificates]
        for name, text in fields:
            etree.SubElement(entry, f"{{{DAP_NS}}}{name}").text = text
    etree.SubElement(root, f"{{{CATALOGUE_NS}}}institutions")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# --- EMREG JSON -----------------------------------------------------------------------------------


def parse_emreg_json(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """The legacy EMREG list: ``{"countries": [...], "emps": [...]}`` (older lists: ``ncps``)."""
    document = _load_json(data)
    if not isinstance(document, dict):
        raise _invalid("the EMREG list must be a JSON object with an 'emps' (or 'ncps') array")
    entries = document.get("emps", document.get("ncps"))
    if not isinstance(entries, list):
        raise _invalid("the EMREG list has no 'emps' (or older 'ncps') array")
    out = _Collector(source="emreg")
    single_fetch = _single_fetch_countries(document.get("countries"), out)
    for position, entry in enumerate(entries, start=1):
        try:
            emp = _emreg_emp(entry, single_fetch, allow_loopback_http)
        except _SkipEntry as skip:
            out.notice(NOTICE_ENTRY_SKIPPED, f"EMREG entry #{position} {skip}; skipped")
            continue
        out.add(emp)
    return out.result()


def _load_json(data: bytes) -> Any:
    if len(data) > MAX_REGISTRY_BYTES:
        raise _invalid(f"the EMREG list is larger than {MAX_REGISTRY_BYTES} bytes")
    text = data.decode("utf-8-sig", errors="replace")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(f"the EMREG list is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(f"the EMREG list is not valid UTF-8 (byte offset {exc.start})") from None
    return document


def _single_fetch_countries(countries: Any, out: _Collector) -> frozenset[str]:
    if countries is None:
        return frozenset()
    if not isinstance(countries, list):
        raise _invalid("the EMREG 'countries' field must be an array")
    codes: set[str] = set()
    for country in countries:
        if not isinstance(country, Mapping) or not isinstance(country.get("countryCode"), str):
            out.notice(NOTICE_ENTRY_SKIPPED, "an EMREG country without a countryCode was ignored")
            continue
        flag = country.get("singleFetch", False)
        if flag is True or (isinstance(flag, str) and flag.strip().lower() == "true"):
            codes.add(country["countryCode"].strip().upper())
    return frozenset(codes)


def _emreg_emp(entry: Any, single_fetch: frozenset[str], allow_loopback_http: bool) -> Emp:
    if not isinstance(entry, Mapping):
        raise _SkipEntry("is not a JSON object")
    name = _json_text(entry, "acronym")
    url = _emp_url(_json_text(entry, "url"), allow_loopback_http)
    country = _country(_json_text(entry, "countryCode"))
    raw_institutions = entry.get("institutions") or []
    if not isinstance(raw_institutions, list):
        raise _SkipEntry(f"({name}) has 'institutions' that is not an array")
    institutions = tuple(str(item).strip() for item in raw_institutions if str(item).strip())
    certificate = _pem_certificate(_json_text(entry, "pubKey"))
    return Emp(
        id=emp_id(country, url),
        name=name,
        url=url,
        country=country,
        institutions=institutions,
        certificates=(certificate,),
        single_fetch=country in single_fetch,
        source="emreg",
    )


def _json_text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _SkipEntry(f"has no '{key}'")
    return value.strip()


def _pem_certificate(pem: str) -> bytes:
    """DER of the ``pubKey`` certificate (PEM; a bare base64 DER body is accepted too)."""
    raw = pem.encode("ascii", errors="replace")
    block = _PEM_BLOCK.search(raw)
    try:
        if block:
            certificate = x509.load_pem_x509_certificate(block.group(0))
        else:
            certificate = x509.load_der_x509_certificate(base64.b64decode(b"".join(raw.split()), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise _SkipEntry(f"has an unreadable 'pubKey' certificate ({exc})") from None
    return certificate.public_bytes(Encoding.DER)
