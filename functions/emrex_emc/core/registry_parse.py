"""EMP discovery: the EWP Registry catalogue (XML), the legacy EMREG list (v1 JSON) and the EMREX 2.0 EMREG
list (v2 JSON) -> :class:`Emp`.

Pure: bytes in, EMPs out. The format is told by the content: XML is the catalogue; a JSON object with
``emps`` (or ``ncps``) is EMREG v1; a JSON object with ``emp_list``, or a bare JSON array, is EMREG v2. A
catalogue or list that cannot be read at all raises ``EmrexError(REGISTRY_INVALID)``. Every entry is
checked on its own against the caps below: an unusable entry (bad URL, no name, bad country, no readable
certificate or public key) is skipped with a :class:`Notice`, so one
broken or hostile EMP never hides the others nor makes the snapshot too large to store. Every value from
the registry that ends up in an :class:`Emp` or a notice is bounded and free of control characters.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
    load_pem_public_key,
)
from lxml import etree

from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.json_input import parse_json
from emrex_emc.core.policy import XmlLimits
from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.registry import (
    MAX_REGISTRY_BYTES,
    CoveredInstitution,
    Emp,
    Emrex2Endpoints,
    emp_id,
    fold_id,
    url_origin,
)
from emrex_emc.core.text import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, clip, is_clean
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

# --- caps: what one registry (and one entry of it) may put into the snapshot --------------------------
# The snapshot is one DynamoDB item (350 KB): these keep a single entry far below that, so a hostile or
# broken entry is skipped or trimmed on its own instead of making the whole snapshot unstorable.

MAX_EMPS = 1_000
"""EMPs kept from one registry. Real lists hold a few dozen; the rest are ignored with one notice."""
MAX_URL_CHARS = 2_000
"""Longest EMP URL: the length browsers and servers reliably accept; an EMP entry point is far shorter.
A longer URL is never cut (it would point elsewhere): the entry is skipped."""
MAX_NAME_CHARS = MAX_FIELD_CHARS
"""Longest EMP name (what a student reads on the chooser); a longer one is clipped. An entry whose name is
empty once control characters are removed is skipped: a student must see whom they send results to."""
MAX_INSTITUTIONS_PER_EMP = 200
"""Institutions kept per EMP: a national EMP lists every institution of its country (under 100 today)."""
MAX_INSTITUTION_CHARS = MAX_FIELD_CHARS
"""Longest institution name; a longer one is clipped."""
MAX_IDS_PER_INSTITUTION = 10
"""``other-id`` values kept per covered institution (a real one has 2-5: erasmus, pic, erasmus-charter, ...)."""
MAX_NAMES_PER_INSTITUTION = 5
"""Names kept per covered institution (one per language; catalogues give one to three)."""
MAX_ID_CHARS = 100
"""Longest institution identifier kept (SCHAC ids, Erasmus codes and PICs are far shorter). Identifiers are kept
as written (``G  ATHINE01`` has two spaces) or dropped: a longer one, or one with control characters, is left out."""
MAX_CERTIFICATES_PER_EMP = 5
"""Certificates kept per EMP: a key rotation needs two; more are dropped with a notice."""
MAX_CERTIFICATE_BYTES = 16 * 1024
"""Largest DER certificate: a signing certificate is 1-2 KB, even with a 4096-bit RSA key."""
MAX_CERTIFICATE_TEXT_CHARS = 2 * MAX_CERTIFICATE_BYTES
"""Longest base64 or PEM text of one certificate (4/3 of the DER plus line breaks and PEM armour)."""
MAX_PUBLIC_KEY_TEXT_CHARS = 16 * 1024
"""Longest EMREG v2 ``publicKey`` text (a PEM RSA key of 4096 bits is about 800 characters)."""
MIN_RSA_BITS = 2048
"""EMREG accepts RS256 keys; a smaller RSA key is not trusted to sign results."""
MAX_DATA_FORMATS = 20
MAX_TIMESTAMP_CHARS = 64
MAX_WARNINGS = 50
"""Notices kept per parse; the rest are counted in one closing notice."""
MAX_WARNING_CHARS = 300
"""Longest notice message: enough for a reason and one clipped value (a notice quoting two is cut)."""
MAX_ENTRY_BYTES = 64 * 1024
"""Most bytes one EMP may add to the snapshot JSON (:meth:`Emp.stored_size`). That is before gzip, so it also
bounds what the entry adds to the stored item: hostile values are chosen not to compress.

The item holds 358,400 bytes (350 KB, ``adapters.registry_store.MAX_ITEM_BYTES``). A real registry of 40 EMPs
with two RSA certificates each takes 47,104 of them (46 KB, docs/PERFORMANCE.md); 358,400 - 47,104 = 311,296
still holds four entries at this budget (4 x 65,536 = 262,144) with 49,152 bytes left for warnings and for
the real registry to grow. A real entry stays well below: a national EMP covering 100 institutions (more than
any country lists today) with three ids and two names each (about 320 bytes), their 100 names and two RSA
certificates of 1.3 KB takes about 41 KB.

An entry above the budget is trimmed, in this order, to what fits: its covered institutions, then its
institution names, then its certificates (the first ones are kept). Only removing, never altering, so a
trimmed entry trusts fewer keys, never others. The first two certificates always fit (2 x 21,848 bytes of
base64 for 16 KB DER, with a URL of 2,000 four-byte characters and the longest name: about 53 KB), so a key
rotation survives; an entry that still does not fit, or keeps no certificate, is skipped."""

NOTICE_ENTRY_SKIPPED = "REGISTRY_ENTRY_SKIPPED"
NOTICE_ENTRY_TRIMMED = "REGISTRY_ENTRY_TRIMMED"
NOTICE_CERTIFICATE_SKIPPED = "REGISTRY_CERTIFICATE_SKIPPED"
NOTICE_DUPLICATE = "REGISTRY_DUPLICATE_EMP"
NOTICE_MORE_WARNINGS = "REGISTRY_MORE_WARNINGS"
_UNREAD_NOTICES = frozenset({NOTICE_ENTRY_SKIPPED, NOTICE_CERTIFICATE_SKIPPED})

_COUNTRY = re.compile(r"[A-Za-z]{2}")
_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_PEM_PUBLIC_KEY = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

_Entry = TypeVar("_Entry")
RegistryFormat = Literal["ewp", "emreg", "emreg2"]


@dataclass(frozen=True)
class ParsedRegistry:
    emps: tuple[Emp, ...]
    notices: tuple[Notice, ...] = ()
    source: RegistryFormat = "ewp"
    unread: int = 0
    """How many entries and certificates were skipped (listed or not among the notices): a refresh that
    reads fewer than the last complete one is partial (see :mod:`emrex_emc.core.registry_events`)."""


class _SkipEntry(Exception):
    """One registry entry is unusable; the message says why (outside values in it already clipped)."""


@dataclass
class _Collector:
    source: RegistryFormat
    emps: dict[tuple[str, datetime | None], Emp] = field(default_factory=dict)
    """Keyed by id and activation moment: EMREG v2 may list an EMP's current and its scheduled entry."""
    notices: list[Notice] = field(default_factory=list)
    unlisted_notices: int = 0
    unread: int = 0

    def notice(self, code: str, message: str) -> None:
        if code in _UNREAD_NOTICES:
            self.unread += 1
        if len(self.notices) < MAX_WARNINGS:
            self.notices.append(Notice(code, clip(message, MAX_WARNING_CHARS)))
        else:
            self.unlisted_notices += 1

    def add(self, emp: Emp) -> None:
        key = (emp.id, emp.active_from)
        if key in self.emps:
            self.notice(
                NOTICE_DUPLICATE, f"{emp.name} ({emp.country}, {clip(emp.url)}) is listed twice; the first is kept"
            )
            return
        self.emps[key] = emp

    def collect(self, label: str, entries: Iterable[_Entry], read: Callable[[_Entry], Emp]) -> ParsedRegistry:
        """``read`` every entry (it raises :class:`_SkipEntry` for an unusable one) up to :data:`MAX_EMPS`.

        Any other exception from one entry skips that entry too: one hostile entry must never cost the others
        (the chooser offers what the rest of the registry lists)."""
        remaining = iter(entries)
        for position, entry in enumerate(remaining, start=1):
            if len(self.emps) >= MAX_EMPS:
                ignored = 1 + sum(1 for _ in remaining)
                self.notice(NOTICE_ENTRY_SKIPPED, f"{ignored} more {label} entries ignored: at most {MAX_EMPS} EMPs")
                break
            try:
                self.add(self.within_budget(read(entry)))
            except _SkipEntry as skip:
                self.notice(NOTICE_ENTRY_SKIPPED, f"{label} entry #{position} {skip}; skipped")
            except Exception as exc:
                reason = f"could not be read ({type(exc).__name__})"
                self.notice(NOTICE_ENTRY_SKIPPED, f"{label} entry #{position} {reason}; skipped")
        return self.result()

    def within_budget(self, emp: Emp) -> Emp:
        """``emp``, trimmed with one notice if it takes more than :data:`MAX_ENTRY_BYTES` (see there)."""
        size = emp.stored_size()
        if size <= MAX_ENTRY_BYTES:
            return emp
        trimmed, kept = emp, []
        for field_name, what, as_json in _TRIMMED_FIELDS:
            if trimmed.stored_size() <= MAX_ENTRY_BYTES:
                break
            values: tuple[Any, ...] = getattr(trimmed, field_name)
            without: dict[str, Any] = {field_name: ()}
            room = MAX_ENTRY_BYTES - replace(trimmed, **without).stored_size()
            count = _fitting_count([len(canonical_json(as_json(value))) + 1 for value in values], room)  # +1: a comma
            kept_values: dict[str, Any] = {field_name: values[:count]}
            trimmed = replace(trimmed, **kept_values)
            kept.append(f"{count} of {len(values)} {what}")
        label = f"{clip(emp.name, 60)} ({emp.country})"
        if trimmed.stored_size() > MAX_ENTRY_BYTES or (emp.certificates and not trimmed.certificates):
            raise _SkipEntry(f"({label}) takes {size} bytes, more than the {MAX_ENTRY_BYTES} of an entry, even trimmed")
        if trimmed.certificates != emp.certificates:
            self.unread += 1  # fewer keys than the registry lists: as a skipped certificate (registry_events)
        self.notice(
            NOTICE_ENTRY_TRIMMED,
            f"{label} takes {size} bytes, more than the {MAX_ENTRY_BYTES} of an entry; kept {', '.join(kept)}",
        )
        return trimmed

    def result(self) -> ParsedRegistry:
        notices = list(self.notices)
        if self.unlisted_notices:
            notices.append(Notice(NOTICE_MORE_WARNINGS, f"{self.unlisted_notices} more warnings not listed"))
        return ParsedRegistry(
            emps=tuple(self.emps.values()), notices=tuple(notices), source=self.source, unread=self.unread
        )


_TRIMMED_FIELDS: tuple[tuple[str, str, Callable[[Any], object]], ...] = (
    ("covered", "covered institutions", CoveredInstitution.to_json),
    ("institutions", "institution names", str),
    ("certificates", "certificates", lambda der: base64.b64encode(der).decode("ascii")),
)
"""What an entry above :data:`MAX_ENTRY_BYTES` loses first: (``Emp`` field, its name in the notice, its JSON)."""


def _fitting_count(sizes: Sequence[int], room: int) -> int:
    """How many of the leading ``sizes`` fit together into ``room`` bytes."""
    count = 0
    for size in sizes:
        room -= size
        if room < 0:
            break
        count += 1
    return count


def _invalid(message: str) -> EmrexError:
    return EmrexError(ErrorCode.REGISTRY_INVALID, message)


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_REGISTRY_BYTES:
        raise _invalid(f"{what} is larger than {MAX_REGISTRY_BYTES} bytes")


def parse_registry(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """Detect the format (XML catalogue, EMREG v1 or v2 JSON) and parse it.

    ``allow_loopback_http`` (local mode only) accepts ``http://`` EMP URLs on loopback hosts, so a mock
    EMP on this machine can be listed; every other EMP URL must be https.
    """
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return parse_ewp_catalogue(data, allow_loopback_http=allow_loopback_http)
    if head.startswith((b"{", b"[")):
        document = _load_json(data)
        if isinstance(document, list) or (isinstance(document, dict) and "emp_list" in document):
            return _emreg2_list(document, allow_loopback_http)
        return _emreg_list(document, allow_loopback_http)
    if not head:
        raise _invalid("the registry document is empty")
    raise _invalid("the registry document is neither an EWP catalogue (XML) nor an EMREG list (JSON)")


# --- one entry, either format -----------------------------------------------------------------------


def _emp_url(raw: str, allow_loopback_http: bool) -> str:
    """``raw`` unchanged if it is a usable EMP URL (the form posts there, so it is never altered)."""
    if len(raw) > MAX_URL_CHARS:
        raise _SkipEntry(f"has a URL of {len(raw)} characters, more than the {MAX_URL_CHARS} allowed")
    if not raw.isprintable() or " " in raw:
        raise _SkipEntry(f"has URL {clip(raw)!r}, which holds spaces or control characters")
    try:
        parts = urlsplit(raw)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        raise _SkipEntry(f"has URL {clip(raw)!r}, which cannot be parsed") from None
    scheme = parts.scheme.lower()
    allowed = scheme == "https" or (allow_loopback_http and scheme == "http" and host in _LOOPBACK_HOSTS)
    if not allowed or not host:
        raise _SkipEntry(f"has URL {clip(raw)!r}, which is not an absolute https URL")
    if parts.username is not None:
        raise _SkipEntry(f"has URL {clip(raw)!r}, which carries credentials")
    if not _valid_host(host):
        raise _SkipEntry(f"has URL {clip(raw)!r}, whose host is not a valid host name")
    return raw


def _valid_host(host: str) -> bool:
    """An IP address, or a DNS name (internationalized names in their IDNA form) of valid labels."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return len(ascii_host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in ascii_host.rstrip(".").split("."))


def _emp_name(raw: str, field_name: str) -> str:
    name = clip(raw, MAX_NAME_CHARS)
    if not name:
        raise _SkipEntry(f"has no usable {field_name} (only control or invisible characters)")
    return name


def _country(raw: str) -> str:
    if not _COUNTRY.fullmatch(raw):
        raise _SkipEntry(f"has country code {clip(raw)!r}, expected two letters (ISO 3166-1 alpha-2)")
    return raw.upper()


def _institutions(values: Sequence[object], label: str, out: _Collector) -> tuple[str, ...]:
    """Clipped institution names (text, or an object's ``name`` as in the EMREG draft); others are left out."""
    texts = [value.get("name") if isinstance(value, Mapping) else value for value in values]
    names = [name for name in (clip(v, MAX_INSTITUTION_CHARS) for v in texts if isinstance(v, str)) if name]
    if len(names) > MAX_INSTITUTIONS_PER_EMP:
        out.notice(
            NOTICE_ENTRY_TRIMMED,
            f"{label} lists {len(names)} institutions; the first {MAX_INSTITUTIONS_PER_EMP} are kept",
        )
    return tuple(names[:MAX_INSTITUTIONS_PER_EMP])


def _certificates(values: Sequence[str], label: str, out: _Collector) -> tuple[bytes, ...]:
    """The readable certificates among the base64 ``values``, without repeats (at least one)."""
    certificates: list[bytes] = []
    for number, value in enumerate(values, start=1):
        if len(certificates) == MAX_CERTIFICATES_PER_EMP:
            ignored = len(values) - number + 1
            out.notice(
                NOTICE_CERTIFICATE_SKIPPED,
                f"{label}: {ignored} certificate(s) after the first {MAX_CERTIFICATES_PER_EMP} ignored",
            )
            break
        try:
            certificate = _base64_der(value)
        except ValueError as exc:  # binascii.Error is a ValueError
            out.notice(
                NOTICE_CERTIFICATE_SKIPPED, f"{label}: certificate #{number} is unreadable ({clip(exc)}); skipped"
            )
            continue
        if certificate not in certificates:
            certificates.append(certificate)
    if not certificates:
        raise _SkipEntry(f"({label}) has no readable certificate")
    return tuple(certificates)


def _base64_der(text: str) -> bytes:
    """DER of a base64 certificate body (line breaks allowed); ValueError if it is not a bounded X.509."""
    if len(text) > MAX_CERTIFICATE_TEXT_CHARS:
        raise ValueError(f"{len(text)} characters, more than the {MAX_CERTIFICATE_TEXT_CHARS} allowed")
    return _checked_der(base64.b64decode("".join(text.split()), validate=True))


def _pem_or_base64_der(text: str) -> bytes:
    """DER of an EMREG ``pubKey``: a PEM certificate, or a bare base64 DER body."""
    if len(text) > MAX_CERTIFICATE_TEXT_CHARS:
        raise ValueError(f"{len(text)} characters, more than the {MAX_CERTIFICATE_TEXT_CHARS} allowed")
    block = _PEM_BLOCK.search(text)
    if block is None:
        return _base64_der(text)
    certificate = x509.load_pem_x509_certificate(block.group(0).encode("ascii", errors="replace"))
    return _checked_der(certificate.public_bytes(Encoding.DER))


def _checked_der(der: bytes) -> bytes:
    if len(der) > MAX_CERTIFICATE_BYTES:
        raise ValueError(f"{len(der)} bytes, more than the {MAX_CERTIFICATE_BYTES} allowed")
    x509.load_der_x509_certificate(der)
    return der


# --- EWP catalogue --------------------------------------------------------------------------------


def _parse_xml(data: bytes) -> etree._Element:
    """The catalogue through the same hardened parser as ELMO documents (no DTD, entities, network)."""
    _check_size(data, "the catalogue")
    try:
        return parse_xml(data, XmlLimits(max_depth=32, max_elements=MAX_ELEMENTS))
    except EmrexError as exc:
        raise _invalid(f"the catalogue is unreadable: {clip(exc.message, MAX_MESSAGE_CHARS)}") from None


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
        raise _invalid(f"the root element is <{clip(_local(root))}>, expected an EWP <catalogue>")
    out = _Collector(source="ewp")
    catalogue = _CatalogueInstitutions(root)

    def read(entry: etree._Element) -> Emp:
        url = _emp_url(_one_text(entry, "url"), allow_loopback_http)
        name = _emp_name(_one_text(entry, "name"), "<name>")
        country = _country(_one_text(entry, "country-code"))
        label = f"{name} ({country})"
        return Emp(
            id=emp_id(country, url),
            name=name,
            url=url,
            country=country,
            institutions=_institutions(_texts(entry, "institution"), label, out),
            certificates=_certificates(_texts(entry, "certificate"), label, out),
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

    def covered_by(self, entry: etree._Element, label: str, out: _Collector) -> tuple[CoveredInstitution, ...]:
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


def _emrex_entries(root: etree._Element, out: _Collector) -> Iterator[etree._Element]:
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


# --- EMREG JSON -----------------------------------------------------------------------------------


def parse_emreg_json(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """The legacy EMREG list: ``{"countries": [...], "emps": [...]}`` (older lists: ``ncps``)."""
    return _emreg_list(_load_json(data), allow_loopback_http)


def _emreg_list(document: Any, allow_loopback_http: bool) -> ParsedRegistry:
    if not isinstance(document, dict):
        raise _invalid("the EMREG list must be a JSON object with an 'emps' (or 'ncps') array")
    entries = document.get("emps", document.get("ncps"))
    if not isinstance(entries, list):
        raise _invalid("the EMREG list has no 'emps' (or older 'ncps') array")
    out = _Collector(source="emreg")
    single_fetch = _single_fetch_countries(document.get("countries"), out)
    return out.collect("EMREG", entries, lambda entry: _emreg_emp(entry, single_fetch, allow_loopback_http, out))


def _load_json(data: bytes) -> Any:
    _check_size(data, "the EMREG list")
    text = data.decode("utf-8-sig", errors="replace")
    try:
        document = parse_json(text)
    except json.JSONDecodeError as exc:
        raise _invalid(f"the EMREG list is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise _invalid(f"the EMREG list is not valid JSON: {exc}") from None
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


def _emreg_emp(entry: Any, single_fetch: frozenset[str], allow_loopback_http: bool, out: _Collector) -> Emp:
    if not isinstance(entry, Mapping):
        raise _SkipEntry("is not a JSON object")
    name = _emp_name(_json_text(entry, "acronym"), "'acronym'")
    url = _emp_url(_json_text(entry, "url"), allow_loopback_http)
    country = _country(_json_text(entry, "countryCode"))
    label = f"{name} ({country})"
    raw_institutions = entry.get("institutions") or []
    if not isinstance(raw_institutions, list):
        raise _SkipEntry(f"({label}) has 'institutions' that is not an array")
    try:
        certificate = _pem_or_base64_der(_json_text(entry, "pubKey"))
    except ValueError as exc:
        raise _SkipEntry(f"({label}) has an unreadable 'pubKey' certificate ({clip(exc)})") from None
    institutions = _institutions(raw_institutions, label, out)
    return Emp(
        id=emp_id(country, url),
        name=name,
        url=url,
        country=country,
        institutions=institutions,
        certificates=(certificate,),
        single_fetch=country in single_fetch,
        source="emreg",
        covered=tuple(CoveredInstitution(names=((None, institution),)) for institution in institutions),
    )


def _json_text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _SkipEntry(f"has no '{key}'")
    return value.strip()


# --- EMREG v2 JSON (EMREX 2.0) -----------------------------------------------------------------------


def parse_emreg2_json(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """The EMREX 2.0 EMREG list: ``{"emp_list": [...]}`` or a bare array of EMP records.

    Each record in EMREG.md's camelCase (``name``, ``publicKey``, ``country.isoCode``, ``institutions[].name``,
    ``emreg2Props.{authorizationUrl, tokenUrl, resourceUrl, pingUrl, supportedDataFormats}``,
    ``activeByDateTimeUtc``) or in the README's snake_case (``acronym``, ``country``, ``institutions``,
    ``authorization_url``, ``token_url``, ``resource_url``, ``public_key``); a record may mix both.
    """
    return _emreg2_list(_load_json(data), allow_loopback_http)


def _emreg2_list(document: Any, allow_loopback_http: bool) -> ParsedRegistry:
    entries = document.get("emp_list") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise _invalid("the EMREG v2 list has no 'emp_list' array")
    out = _Collector(source="emreg2")
    return out.collect("EMREG v2", entries, lambda entry: _emreg2_emp(entry, allow_loopback_http, out))


def _emreg2_emp(entry: Any, allow_loopback_http: bool, out: _Collector) -> Emp:
    if not isinstance(entry, Mapping):
        raise _SkipEntry("is not a JSON object")
    props = entry.get("emreg2Props")
    props = props if isinstance(props, Mapping) else {}
    name = _emp_name(_first_text(entry, ("name", "acronym"), localized=True), "'name'")
    country_field = entry.get("country")
    country = _country(
        _first_text(country_field, ("isoCode",))
        if isinstance(country_field, Mapping)
        else _first_text(entry, ("country", "countryCode"))
    )
    label = f"{name} ({country})"
    loopback = allow_loopback_http
    endpoints = Emrex2Endpoints(
        authorization_url=_emp_url(_endpoint(entry, props, "authorizationUrl", "authorization_url"), loopback),
        token_url=_emp_url(_endpoint(entry, props, "tokenUrl", "token_url"), loopback),
        resource_url=_emp_url(_endpoint(entry, props, "resourceUrl", "resource_url"), loopback),
        ping_url=_optional_url(entry, props, allow_loopback_http),
        data_formats=_data_formats(props.get("supportedDataFormats") or entry.get("supported_data_formats")),
    )
    try:
        public_key = _rsa_public_key_der(_first_text(entry, ("publicKey", "public_key")))
    except ValueError as exc:
        raise _SkipEntry(f"({label}) has an unusable 'publicKey' ({clip(exc)})") from None
    raw_institutions = entry.get("institutions") or []
    if not isinstance(raw_institutions, list):
        raise _SkipEntry(f"({label}) has 'institutions' that is not an array")
    institutions = [item.get("name") if isinstance(item, Mapping) else item for item in raw_institutions]
    single = country_field.get("singleFetch") if isinstance(country_field, Mapping) else False
    return Emp(
        id=emp_id(country, url_origin(endpoints.authorization_url)),
        name=name,
        url=endpoints.authorization_url,
        country=country,
        institutions=_institutions(institutions, label, out),
        single_fetch=single is True or (isinstance(single, str) and single.strip().lower() == "true"),
        source="emreg2",
        protocol=ProtocolVersion.EMREX_2,
        emrex2=endpoints,
        public_key=public_key,
        active_from=_activation(entry.get("activeByDateTimeUtc", props.get("activeByDateTimeUtc")), label),
    )


def render_emreg2_list(emps: Iterable[Emp]) -> bytes:
    """An EMREG v2 list in EMREG.md's camelCase for EMREX 2.0 ``emps`` (for the local runner and tests)."""
    records = []
    for emp in emps:
        if emp.emrex2 is None:
            raise ValueError(f"{emp.name} is not an EMREX 2.0 EMP")
        key = load_der_public_key(emp.public_key)
        props: dict[str, Any] = {
            "authorizationUrl": emp.emrex2.authorization_url,
            "tokenUrl": emp.emrex2.token_url,
            "resourceUrl": emp.emrex2.resource_url,
            "supportedDataFormats": [
                dict(zip(("name", "version"), item.split("-", 1), strict=False)) for item in emp.emrex2.data_formats
            ],
        }
        if emp.emrex2.ping_url:
            props["pingUrl"] = emp.emrex2.ping_url
        record: dict[str, Any] = {
            "name": emp.name,
            "publicKey": key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii"),
            "emreg2Props": props,
            "institutions": [{"name": name} for name in emp.institutions],
            "country": {"isoCode": emp.country, "singleFetch": emp.single_fetch},
        }
        if emp.active_from is not None:
            record["activeByDateTimeUtc"] = emp.active_from.isoformat().replace("+00:00", "Z")
        records.append(record)
    return json.dumps({"emp_list": records}, indent=2, ensure_ascii=False).encode("utf-8")


def _first_text(entry: Mapping[str, Any], keys: Sequence[str], *, localized: bool = False) -> str:
    """The first of ``keys`` holding text; a localized name (``{"en": ..., "nl": ...}``) gives its English text."""
    for key in keys:
        value = entry.get(key)
        if localized and isinstance(value, Mapping):
            value = value.get("en") or next((v for v in value.values() if isinstance(v, str)), None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise _SkipEntry(f"has no '{keys[0]}'")


def _endpoint(entry: Mapping[str, Any], props: Mapping[str, Any], camel: str, snake: str) -> str:
    for source, key in ((props, camel), (entry, snake), (entry, camel)):
        value = source.get(key)
        if isinstance(value, str) and value.strip():
            if "#" in value:  # RFC 6749 §3.1: an OAuth endpoint URL has no fragment
                raise _SkipEntry(f"has '{camel}' {clip(value)!r}, which holds a fragment")
            return value.strip()
    raise _SkipEntry(f"has no 'emreg2Props.{camel}' (or '{snake}')")


def _optional_url(entry: Mapping[str, Any], props: Mapping[str, Any], allow_loopback_http: bool) -> str | None:
    try:
        return _emp_url(_endpoint(entry, props, "pingUrl", "ping_url"), allow_loopback_http)
    except _SkipEntry:
        return None


def _data_formats(value: Any) -> tuple[str, ...]:
    """``[{"name": "elmo", "version": "2.1"}]`` or ``["elmo-2.1"]`` -> ``("elmo-2.1",)`` (clipped, at most 20)."""
    if not isinstance(value, list):
        return ()
    formats: list[str] = []
    for item in value[:MAX_DATA_FORMATS]:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            version = item.get("version")
            text = f"{item['name']}-{version}" if isinstance(version, str | int | float) else item["name"]
        elif isinstance(item, str):
            text = item
        else:
            continue
        if clipped := clip(text, 40):
            formats.append(clipped)
    return tuple(formats)


def _rsa_public_key_der(text: str) -> bytes:
    """DER SubjectPublicKeyInfo of a PEM public key (or of a PEM certificate's key): RSA of 2048+ bits only."""
    if len(text) > MAX_PUBLIC_KEY_TEXT_CHARS:
        raise ValueError(f"{len(text)} characters, more than the {MAX_PUBLIC_KEY_TEXT_CHARS} allowed")
    key_block = _PEM_PUBLIC_KEY.search(text)
    certificate_block = None if key_block else _PEM_BLOCK.search(text)
    try:
        if key_block is not None:
            key = load_pem_public_key(key_block.group(0).encode("ascii", errors="replace"))
        elif certificate_block is not None:
            pem = certificate_block.group(0).encode("ascii", errors="replace")
            key = x509.load_pem_x509_certificate(pem).public_key()
        else:
            raise ValueError("not a PEM public key ('-----BEGIN PUBLIC KEY-----')")
    except UnsupportedAlgorithm:  # a key type cryptography does not know: not a ValueError
        raise ValueError("a key of an algorithm we do not support (EMREX 2.0 signs with RS256)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key (EMREX 2.0 signs with RS256)")
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(f"an RSA key of {key.key_size} bits, fewer than {MIN_RSA_BITS}")
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _activation(value: Any, label: str) -> datetime | None:
    """``activeByDateTimeUtc`` as an aware UTC datetime (no zone means UTC, as the name says)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TIMESTAMP_CHARS:
        raise _SkipEntry(f"({label}) has an 'activeByDateTimeUtc' that is not a date-time text")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _SkipEntry(f"({label}) has 'activeByDateTimeUtc' {clip(value)!r}, which is not ISO 8601") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
