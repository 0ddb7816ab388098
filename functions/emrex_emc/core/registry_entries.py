"""What every registry format shares: the caps on one registry and one entry, the notice codes,
:class:`ParsedRegistry`, the per-entry :class:`Collector` (with the entry budget) and the per-entry field
readers (URL, name, country, institutions, certificates, public keys).

Every entry is checked on its own against these caps: an unusable entry (bad URL, no name, bad country, no
readable certificate or public key) raises :class:`SkipEntry` and is skipped with a :class:`Notice`, so one
broken or hostile EMP never hides the others nor makes the snapshot too large to store. Every value from the
registry that ends up in an :class:`Emp` or a notice is bounded and free of control characters. The formats
themselves are read in :mod:`emrex_emc.core.registry_parse` (EWP catalogue) and
:mod:`emrex_emc.core.registry_emreg` (EMREG JSON).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.registry import MAX_REGISTRY_BYTES, CoveredInstitution, Emp
from emrex_emc.core.text import MAX_FIELD_CHARS, clip

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
NOTICE_CONFLICT = "REGISTRY_CONFLICTING_EMP"
NOTICE_MORE_WARNINGS = "REGISTRY_MORE_WARNINGS"
_UNREAD_NOTICES = frozenset({NOTICE_ENTRY_SKIPPED, NOTICE_CERTIFICATE_SKIPPED, NOTICE_CONFLICT})

_COUNTRY = re.compile(r"[A-Za-z]{2}")
_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_PEM_PUBLIC_KEY = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# --- the parse result, and the collector every format reads its entries with -----------------------------

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


class SkipEntry(Exception):
    """One registry entry is unusable; the message says why (outside values in it already clipped)."""


@dataclass
class Collector:
    source: RegistryFormat
    emps: dict[tuple[str, datetime | None], Emp] = field(default_factory=dict)
    """Keyed by id and activation moment: EMREG v2 may list an EMP's current and its scheduled entry."""
    notices: list[Notice] = field(default_factory=list)
    unlisted_notices: int = 0
    unread: int = 0
    conflicted: set[tuple[str, datetime | None]] = field(default_factory=set)
    """Ids (with activation) listed twice with different keys or endpoints: none of their entries is kept."""

    def notice(self, code: str, message: str) -> None:
        if code in _UNREAD_NOTICES:
            self.unread += 1
        if len(self.notices) < MAX_WARNINGS:
            self.notices.append(Notice(code, clip(message, MAX_WARNING_CHARS)))
        else:
            self.unlisted_notices += 1

    def add(self, emp: Emp) -> None:
        """Keep ``emp`` once. The same EMP listed again with the same keys and endpoints is a harmless
        duplicate; listed again with OTHER keys or endpoints, the registry contradicts itself about whom to
        trust, so neither entry is offered (an EMP missing beats results checked with a key it may not hold)."""
        key = (emp.id, emp.active_from)
        label = f"{emp.name} ({emp.country}, {clip(emp.url)})"
        if key in self.conflicted:
            return
        held = self.emps.get(key)
        if held is None:
            self.emps[key] = emp
        elif _trust_material(held) == _trust_material(emp):
            self.notice(NOTICE_DUPLICATE, f"{label} is listed twice; the first is kept")
        else:
            del self.emps[key]
            self.conflicted.add(key)
            self.notice(NOTICE_CONFLICT, f"{label} is listed twice with different keys or endpoints; not offered")

    def collect(self, label: str, entries: Iterable[_Entry], read: Callable[[_Entry], Emp]) -> ParsedRegistry:
        """``read`` every entry (it raises :class:`SkipEntry` for an unusable one) up to :data:`MAX_EMPS`.

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
            except SkipEntry as skip:
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
            raise SkipEntry(f"({label}) takes {size} bytes, more than the {MAX_ENTRY_BYTES} of an entry, even trimmed")
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


def _trust_material(emp: Emp) -> tuple[frozenset[bytes], bytes, object]:
    """What a verification would trust about an EMP: its certificates, its EMREX 2.0 key and endpoints."""
    return frozenset(emp.certificates), emp.public_key, emp.emrex2


def _fitting_count(sizes: Sequence[int], room: int) -> int:
    """How many of the leading ``sizes`` fit together into ``room`` bytes."""
    count = 0
    for size in sizes:
        room -= size
        if room < 0:
            break
        count += 1
    return count


def registry_invalid(message: str) -> EmrexError:
    return EmrexError(ErrorCode.REGISTRY_INVALID, message)


def check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_REGISTRY_BYTES:
        raise registry_invalid(f"{what} is larger than {MAX_REGISTRY_BYTES} bytes")


# --- one entry, either format -----------------------------------------------------------------------


def emp_url(raw: str, allow_loopback_http: bool) -> str:
    """``raw`` unchanged if it is a usable EMP URL (the form posts there, so it is never altered)."""
    if len(raw) > MAX_URL_CHARS:
        raise SkipEntry(f"has a URL of {len(raw)} characters, more than the {MAX_URL_CHARS} allowed")
    if not raw.isprintable() or " " in raw:
        raise SkipEntry(f"has URL {clip(raw)!r}, which holds spaces or control characters")
    try:
        parts = urlsplit(raw)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        raise SkipEntry(f"has URL {clip(raw)!r}, which cannot be parsed") from None
    scheme = parts.scheme.lower()
    allowed = scheme == "https" or (allow_loopback_http and scheme == "http" and host in _LOOPBACK_HOSTS)
    if not allowed or not host:
        raise SkipEntry(f"has URL {clip(raw)!r}, which is not an absolute https URL")
    if parts.username is not None:
        raise SkipEntry(f"has URL {clip(raw)!r}, which carries credentials")
    if not _valid_host(host):
        raise SkipEntry(f"has URL {clip(raw)!r}, whose host is not a valid host name")
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


def emp_name(raw: str, field_name: str) -> str:
    name = clip(raw, MAX_NAME_CHARS)
    if not name:
        raise SkipEntry(f"has no usable {field_name} (only control or invisible characters)")
    return name


def country_code(raw: str) -> str:
    if not _COUNTRY.fullmatch(raw):
        raise SkipEntry(f"has country code {clip(raw)!r}, expected two letters (ISO 3166-1 alpha-2)")
    return raw.upper()


def institution_names(values: Sequence[object], label: str, out: Collector) -> tuple[str, ...]:
    """Clipped institution names (text, or an object's ``name`` as in the EMREG draft); others are left out."""
    texts = [value.get("name") if isinstance(value, Mapping) else value for value in values]
    names = [name for name in (clip(v, MAX_INSTITUTION_CHARS) for v in texts if isinstance(v, str)) if name]
    if len(names) > MAX_INSTITUTIONS_PER_EMP:
        out.notice(
            NOTICE_ENTRY_TRIMMED,
            f"{label} lists {len(names)} institutions; the first {MAX_INSTITUTIONS_PER_EMP} are kept",
        )
    return tuple(names[:MAX_INSTITUTIONS_PER_EMP])


def certificate_ders(values: Sequence[str], label: str, out: Collector) -> tuple[bytes, ...]:
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
        raise SkipEntry(f"({label}) has no readable certificate")
    return tuple(certificates)


def _base64_der(text: str) -> bytes:
    """DER of a base64 certificate body (line breaks allowed); ValueError if it is not a bounded X.509."""
    if len(text) > MAX_CERTIFICATE_TEXT_CHARS:
        raise ValueError(f"{len(text)} characters, more than the {MAX_CERTIFICATE_TEXT_CHARS} allowed")
    return _checked_der(base64.b64decode("".join(text.split()), validate=True))


def pem_or_base64_der(text: str) -> bytes:
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


def rsa_public_key_der(text: str) -> bytes:
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
