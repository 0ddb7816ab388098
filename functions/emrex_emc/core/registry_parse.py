"""EMP discovery: tell the registry format by its content, and read the EWP Registry catalogue (XML).

Pure: bytes in, EMPs out. The format is told by the content: XML is the catalogue (read here); a JSON object
with ``emps`` (or ``ncps``) is EMREG v1; a JSON object with ``emp_list``, or a bare JSON array, is EMREG v2
(both read in :mod:`emrex_emc.core.registry_emreg`). A catalogue or list that cannot be read at all raises
``EmrexError(REGISTRY_INVALID)``. Every entry is checked on its own against the caps of
:mod:`emrex_emc.core.registry_entries`: an unusable entry (bad URL, no name, bad country, no readable
certificate or public key) is skipped with a :class:`Notice`, so one broken or hostile EMP never hides the
others nor makes the snapshot too large to store. Every value from the registry that ends up in an
:class:`Emp` or a notice is bounded and free of control characters.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any

from lxml import etree

from emrex_emc.core.errors import EmrexError
from emrex_emc.core.policy import XmlLimits
from emrex_emc.core.registry import CoveredInstitution, Emp, emp_id, fold_id
from emrex_emc.core.registry_emreg import emreg2_list, emreg_list, load_json
from emrex_emc.core.registry_entries import (
    MAX_ID_CHARS,
    MAX_IDS_PER_INSTITUTION,
    MAX_INSTITUTION_CHARS,
    MAX_INSTITUTIONS_PER_EMP,
    MAX_NAMES_PER_INSTITUTION,
    NOTICE_ENTRY_SKIPPED,
    NOTICE_ENTRY_TRIMMED,
    Collector,
    ParsedRegistry,
    SkipEntry,
    certificate_ders,
    check_size,
    country_code,
    emp_name,
    emp_url,
    institution_names,
    registry_invalid,
)
from emrex_emc.core.text import MAX_MESSAGE_CHARS, clip, is_clean
from emrex_emc.core.xmlsafe import parse_xml

CATALOGUE_NS = "https://github.com/erasmus-without-paper/ewp-specs-api-registry/tree/stable-v1"
DAP_NS = (
    "https://github.com/erasmus-without-paper/ewp-specs-api-emrex-data-access-point/blob/stable-v1/manifest-entry.xsd"
)
NCP_NS = "https://github.com/erasmus-without-paper/ewp-specs-api-emrex-ncp/blob/stable-v1/manifest-entry.xsd"
EMREX_ENTRY_NAMESPACES = frozenset({DAP_NS, NCP_NS})
"""Namespaces of the ``emrex-data-access-point`` manifest entry seen in the wild (emrex-protocol.md §6.1)."""
ENTRY_LOCAL_NAME = "emrex-data-access-point"
MAX_ELEMENTS = 2_000_000
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def parse_registry(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """Detect the format (XML catalogue, EMREG v1 or v2 JSON) and parse it.

    ``allow_loopback_http`` (local mode only) accepts ``http://`` EMP URLs on loopback hosts, so a mock
    EMP on this machine can be listed; every other EMP URL must be https.
    """
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return parse_ewp_catalogue(data, allow_loopback_http=allow_loopback_http)
    if head.startswith((b"{", b"[")):
        document = load_json(data)
        if isinstance(document, list) or (isinstance(document, dict) and "emp_list" in document):
            return emreg2_list(document, allow_loopback_http)
        return emreg_list(document, allow_loopback_http)
    if not head:
        raise registry_invalid("the registry document is empty")
    raise registry_invalid("the registry document is neither an EWP catalogue (XML) nor an EMREG list (JSON)")


# --- EWP catalogue --------------------------------------------------------------------------------


def _parse_xml(data: bytes) -> etree._Element:
    """The catalogue through the same hardened parser as ELMO documents (no DTD, entities, network)."""
    check_size(data, "the catalogue")
    try:
        return parse_xml(data, XmlLimits(max_depth=32, max_elements=MAX_ELEMENTS))
    except EmrexError as exc:
        raise registry_invalid(f"the catalogue is unreadable: {clip(exc.message, MAX_MESSAGE_CHARS)}") from None


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _texts(entry: etree._Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in entry if _local(child) == name]


def _one_text(entry: etree._Element, name: str) -> str:
    values = [v for v in _texts(entry, name) if v]
    if not values:
        raise SkipEntry(f"has no <{name}>")
    return values[0]


def parse_ewp_catalogue(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """Every ``emrex-data-access-point`` entry of an EWP Registry catalogue (or manifest)."""
    root = _parse_xml(data)
    if _local(root) not in {"catalogue", "manifest"}:
        raise registry_invalid(f"the root element is <{clip(_local(root))}>, expected an EWP <catalogue>")
    out = Collector(source="ewp")
    catalogue = _CatalogueInstitutions(root)

    def read(entry: etree._Element) -> Emp:
        url = emp_url(_one_text(entry, "url"), allow_loopback_http)
        name = emp_name(_one_text(entry, "name"), "<name>")
        country = country_code(_one_text(entry, "country-code"))
        label = f"{name} ({country})"
        return Emp(
            id=emp_id(country, url),
            name=name,
            url=url,
            country=country,
            institutions=institution_names(_texts(entry, "institution"), label, out),
            certificates=certificate_ders(_texts(entry, "certificate"), label, out),
            source="ewp",
            covered=catalogue.covered_by(entry, label, out),
        )

    return out.collect("EMREX", _emrex_entries(root, out), read)


class _CatalogueInstitutions:
    """The catalogue's ``institutions`` (``hei`` elements by folded SCHAC id), indexed on first use."""

    def __init__(self, root: etree._Element) -> None:
        self._root = root
        self._by_id: dict[str, etree._Element] | None = None

    def find(self, hei_id: str) -> etree._Element | None:
        if self._by_id is None:
            self._by_id = {}
            for institutions in self._root:
                if _local(institutions) != "institutions":
                    continue
                for hei in institutions:
                    if _local(hei) == "hei" and isinstance(hei.get("id"), str):
                        self._by_id.setdefault(fold_id(hei.get("id", "")), hei)
        return self._by_id.get(fold_id(hei_id))

    def covered_by(self, entry: etree._Element, label: str, out: Collector) -> tuple[CoveredInstitution, ...]:
        """The institutions the entry's host covers (``institutions-covered``), then those of the entry's own
        ``institution`` values that are catalogue hei-ids; each with its ``other-id`` values and names."""
        found: dict[str, tuple[str, etree._Element | None]] = {}
        for hei_id, inline in _host_coverage(entry):
            if _usable_id(hei_id):
                found.setdefault(fold_id(hei_id), (hei_id, inline))
        for value in _texts(entry, "institution"):
            if _usable_id(value) and self.find(value) is not None:
                found.setdefault(fold_id(value), (value, None))
        if len(found) > MAX_INSTITUTIONS_PER_EMP:
            out.notice(
                NOTICE_ENTRY_TRIMMED,
                f"{label} covers {len(found)} institutions; the first {MAX_INSTITUTIONS_PER_EMP} are kept",
            )
        covered = []
        for hei_id, inline in list(found.values())[:MAX_INSTITUTIONS_PER_EMP]:
            hei = inline if inline is not None else self.find(hei_id)
            covered.append(_covered_institution(hei_id, hei))
        return tuple(covered)


def _host_coverage(entry: etree._Element) -> Iterator[tuple[str, etree._Element | None]]:
    """The hei-ids the entry's ``host`` covers: ``hei-id`` texts (catalogue), or ``hei`` elements (manifest)."""
    host = entry.getparent()
    while host is not None and _local(host) != "host":
        host = host.getparent()
    if host is None:
        return
    for covered in host:
        if _local(covered) != "institutions-covered":
            continue
        for child in covered:
            if _local(child) == "hei-id":
                yield (child.text or "").strip(), None
            elif _local(child) == "hei":
                yield (child.get("id") or "").strip(), child


def _usable_id(value: str) -> bool:
    return 0 < len(value) <= MAX_ID_CHARS and is_clean(value)


def _covered_institution(hei_id: str, hei: etree._Element | None) -> CoveredInstitution:
    """``hei_id`` with the ``other-id`` values and names of its catalogue ``hei`` element (if any), capped."""
    other_ids: list[tuple[str, str]] = []
    names: list[tuple[str | None, str]] = []
    for child in hei if hei is not None else ():
        local = _local(child)
        value = (child.text or "").strip()
        kind = child.get("type") or ""
        usable = _usable_id(value) and _usable_id(kind)
        if local == "other-id" and usable and len(other_ids) < MAX_IDS_PER_INSTITUTION:
            other_ids.append((kind, value))
        elif local == "name" and len(names) < MAX_NAMES_PER_INSTITUTION:
            name = clip(value, MAX_INSTITUTION_CHARS)
            lang = child.get(_XML_LANG)
            if name:
                names.append((clip(lang, 20) if lang else None, name))
    return CoveredInstitution(hei_id=hei_id, other_ids=tuple(other_ids), names=tuple(names))


def _emrex_entries(root: etree._Element, out: Collector) -> Iterator[etree._Element]:
    for element in root.iter():
        if _local(element) != ENTRY_LOCAL_NAME:
            continue
        namespace = etree.QName(element.tag).namespace
        if namespace in EMREX_ENTRY_NAMESPACES:
            yield element
        else:
            out.notice(NOTICE_ENTRY_SKIPPED, f"<{ENTRY_LOCAL_NAME}> in unknown namespace {clip(namespace)!r}; skipped")


def render_ewp_catalogue(emps: Iterable[Emp]) -> bytes:
    """A minimal valid EWP catalogue with one host per EMP (for the local runner and tests).

    Each host lists the hei-ids of the EMP's covered institutions; the catalogue's ``institutions`` describe
    them (``other-id`` values and names; the hei-id stands in for a name, which the schema requires).
    """
    nsmap: Any = {None: CATALOGUE_NS, "emrex": DAP_NS}  # lxml-stubs reject the None (default) prefix
    root = etree.Element(f"{{{CATALOGUE_NS}}}catalogue", nsmap=nsmap)
    described: dict[str, CoveredInstitution] = {}
    for emp in emps:
        host = etree.SubElement(root, f"{{{CATALOGUE_NS}}}host")
        apis = etree.SubElement(host, f"{{{CATALOGUE_NS}}}apis-implemented")
        entry = etree.SubElement(apis, f"{{{DAP_NS}}}{ENTRY_LOCAL_NAME}", version="1.0.0")
        fields: list[tuple[str, str]] = [("url", emp.url), ("name", emp.name), ("country-code", emp.country)]
        fields += [("institution", institution) for institution in emp.institutions]
        fields += [("certificate", base64.b64encode(der).decode("ascii")) for der in emp.certificates]
        for name, text in fields:
            etree.SubElement(entry, f"{{{DAP_NS}}}{name}").text = text
        hei_ids = [institution.hei_id for institution in emp.covered if institution.hei_id]
        if hei_ids:
            covered = etree.SubElement(host, f"{{{CATALOGUE_NS}}}institutions-covered")
            for hei_id in hei_ids:
                etree.SubElement(covered, f"{{{CATALOGUE_NS}}}hei-id").text = hei_id
        for institution in emp.covered:
            if institution.hei_id:
                described.setdefault(institution.hei_id, institution)
    institutions = etree.SubElement(root, f"{{{CATALOGUE_NS}}}institutions")
    for hei_id, institution in described.items():
        hei = etree.SubElement(institutions, f"{{{CATALOGUE_NS}}}hei", id=hei_id)
        for kind, value in institution.other_ids:
            etree.SubElement(hei, f"{{{CATALOGUE_NS}}}other-id", type=kind).text = value
        for lang, name in institution.names or ((None, hei_id),):
            element = etree.SubElement(hei, f"{{{CATALOGUE_NS}}}name")
            element.text = name
            if lang:
                element.set(_XML_LANG, lang)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
