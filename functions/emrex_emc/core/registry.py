"""The EMP model shared by discovery (registry parsing), the chooser and the trust pipeline.

Parsing lives in :mod:`emrex_emc.core.registry_parse` (format detection, the EWP catalogue),
:mod:`emrex_emc.core.registry_emreg` (the EMREG JSON, v1 and v2) and :mod:`emrex_emc.core.registry_entries`
(the caps and field readers every format shares); what the chooser offers from a snapshot in
:mod:`emrex_emc.core.discovery`; fetching and storing snapshots are adapters. This module only holds the data
shapes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.text import clip

MAX_REGISTRY_BYTES = 20 * 1024 * 1024
"""Largest registry document fetched or parsed (the EWP catalogue of every EWP host is a few MB)."""


@dataclass(frozen=True)
class CoveredInstitution:
    """An institution an EMP covers (EWP: its host's ``institutions-covered``), with what identifies it.

    ``hei_id`` is its SCHAC id in the EWP catalogue; ``other_ids`` the catalogue's ``other-id`` values
    (erasmus, pic, previous-schac, ...) as ``(type, value)``; ``names`` its names as ``(lang, name)``. An
    EMREG list names its institutions only (``hei_id`` None, no ids).
    """

    hei_id: str | None = None
    other_ids: tuple[tuple[str, str], ...] = ()
    names: tuple[tuple[str | None, str], ...] = ()

    @property
    def name(self) -> str | None:
        """The English name if there is one, else the first name."""
        english = next((name for lang, name in self.names if lang and lang.lower().startswith("en")), None)
        return english or (self.names[0][1] if self.names else None)

    def to_json(self) -> dict[str, Any]:
        return {
            "hei_id": self.hei_id,
            "other_ids": [{"type": kind, "value": value} for kind, value in self.other_ids],
            "names": [{"lang": lang, "value": name} for lang, name in self.names],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CoveredInstitution:
        hei_id = data.get("hei_id")
        return cls(
            hei_id=None if hei_id is None else str(hei_id),
            other_ids=tuple((str(item["type"]), str(item["value"])) for item in data.get("other_ids") or ()),
            names=tuple(
                (None if item.get("lang") is None else str(item["lang"]), str(item["value"]))
                for item in data.get("names") or ()
            ),
        )


def _covered_from_json(items: Iterable[Mapping[str, Any]] | None) -> tuple[CoveredInstitution, ...]:
    return tuple(CoveredInstitution.from_json(item) for item in items or ())


@dataclass(frozen=True)
class Emrex2Endpoints:
    """Where an EMREX 2.0 EMP is reached (EMREG ``emreg2Props``)."""

    authorization_url: str
    token_url: str
    resource_url: str
    ping_url: str | None = None
    data_formats: tuple[str, ...] = ()
    """``supportedDataFormats`` as ``name-version`` (``elmo-2.1``), for people: the flow always asks for ELMO 2.1."""

    def to_json(self) -> dict[str, Any]:
        return {
            "authorization_url": self.authorization_url,
            "token_url": self.token_url,
            "resource_url": self.resource_url,
            "ping_url": self.ping_url,
            "data_formats": list(self.data_formats),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Emrex2Endpoints:
        ping = data.get("ping_url")
        return cls(
            authorization_url=str(data["authorization_url"]),
            token_url=str(data["token_url"]),
            resource_url=str(data["resource_url"]),
            ping_url=str(ping) if ping is not None else None,
            data_formats=tuple(str(item) for item in data.get("data_formats") or ()),
        )


@dataclass(frozen=True)
class Emp:
    """One EMREX data provider, normalized from any registry format."""

    id: str
    """Stable id: ``{country lower}-{first 10 hex of sha256(url)}``; see :func:`emp_id`. For an EMREX 2.0 EMP
    the URL is the origin of its authorization endpoint (:func:`url_origin`)."""
    name: str
    url: str
    """EMREX 1: the entry point the browser posts to. EMREX 2.0: the authorization endpoint."""
    country: str
    """ISO 3166-1 alpha-2, upper case."""
    institutions: tuple[str, ...] = ()
    certificates: tuple[bytes, ...] = ()
    """DER-encoded X.509 certificates that may sign this EMP's ELMO documents."""
    single_fetch: bool = False
    """EMREG ``singleFetch``: the country has one EMP per institution."""
    source: str = "ewp"
    """The registry format it came from: ``ewp``, ``emreg`` (EMREG v1 JSON) or ``emreg2`` (EMREG v2 JSON)."""
    protocol: ProtocolVersion = ProtocolVersion.EMREX_1
    emrex2: Emrex2Endpoints | None = None
    """EMREX 2.0 only: its OAuth and resource endpoints."""
    public_key: bytes = b""
    """EMREX 2.0 only: DER SubjectPublicKeyInfo of the RSA key that signs its results (EMREG ``publicKey``)."""
    active_from: datetime | None = None
    """EMREG ``activeByDateTimeUtc`` (UTC): the entry takes effect at this moment; None means already in effect."""
    covered: tuple[CoveredInstitution, ...] = ()
    """The institutions the EMP covers, with their ids (what provenance checks issuers against)."""

    @property
    def host(self) -> str:
        """The host name of the EMP's URL (what the chooser shows next to its name)."""
        try:
            return urlsplit(self.url).hostname or ""
        except ValueError:
            return ""

    @property
    def institution_names(self) -> tuple[str, ...]:
        """The entry's own institution names, then the names of the institutions it covers (no repeats)."""
        names = dict.fromkeys(self.institutions)
        for institution in self.covered:
            for _, name in institution.names:
                names.setdefault(name)
        return tuple(names)

    @property
    def label(self) -> str:
        """What a student sees: the institution for per-institution EMPs, else the EMP name."""
        if self.single_fetch and self.institutions:
            return self.institutions[0]
        return self.name

    def certificate_fingerprints(self) -> tuple[str, ...]:
        return tuple(hashlib.sha256(der).hexdigest() for der in self.certificates)

    @property
    def key_type(self) -> str:
        """What :meth:`key_fingerprints` are fingerprints of: certificates (EMREX 1) or a public key (EMREX 2.0)."""
        return "public_key" if self.protocol is ProtocolVersion.EMREX_2 else "certificate"

    def key_fingerprints(self) -> tuple[str, ...]:
        """SHA-256 (hex) of every key this EMP's results may be signed with, whatever form the keys take
        (registry changes are compared on these)."""
        if self.protocol is ProtocolVersion.EMREX_2:
            return (self.public_key_sha256,) if self.public_key_sha256 else ()
        return self.certificate_fingerprints()

    @property
    def public_key_sha256(self) -> str | None:
        """SHA-256 (hex) of the EMREX 2.0 public key (DER SubjectPublicKeyInfo), when the EMP has one."""
        return hashlib.sha256(self.public_key).hexdigest() if self.public_key else None

    def is_active(self, now: datetime) -> bool:
        return self.active_from is None or self.active_from <= now

    def stored_size(self) -> int:
        """Bytes this EMP adds to the snapshot JSON (``canonical_json``, before compression)."""
        return len(canonical_json(self.to_json()))

    def to_json(self) -> dict[str, Any]:
        """The snapshot form; the EMREX 2.0 keys only for EMREX 2.0 entries (EMREX 1 entries keep their shape)."""
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "country": self.country,
            "institutions": list(self.institutions),
            "certificates": [base64.b64encode(der).decode("ascii") for der in self.certificates],
            "single_fetch": self.single_fetch,
            "source": self.source,
            "covered": [institution.to_json() for institution in self.covered],
        }
        if self.protocol is not ProtocolVersion.EMREX_1:
            data["protocol"] = self.protocol.value
        if self.emrex2 is not None:
            data["emrex2"] = self.emrex2.to_json()
        if self.public_key:
            data["public_key"] = base64.b64encode(self.public_key).decode("ascii")
        if self.active_from is not None:
            data["active_from"] = self.active_from.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Emp:
        endpoints = data.get("emrex2")
        active_from = data.get("active_from")
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            url=str(data["url"]),
            country=str(data["country"]),
            institutions=tuple(str(i) for i in data.get("institutions", ())),
            certificates=tuple(base64.b64decode(c) for c in data.get("certificates", ())),
            single_fetch=bool(data.get("single_fetch", False)),
            source=str(data.get("source", "ewp")),
            covered=_covered_from_json(data.get("covered")),  # absent in snapshots of earlier versions
            protocol=ProtocolVersion(str(data.get("protocol", ProtocolVersion.EMREX_1.value))),
            emrex2=Emrex2Endpoints.from_json(endpoints) if isinstance(endpoints, dict) else None,
            public_key=base64.b64decode(data.get("public_key") or ""),
            active_from=datetime.fromisoformat(active_from) if active_from else None,
        )


def fold_id(value: str) -> str:
    """An identifier as compared: whitespace collapsed, case folded (``G  ATHINE01`` = ``g athine01``)."""
    return " ".join(value.split()).casefold()


def emp_id(country: str, url: str) -> str:
    """A short id that stays the same across refreshes as long as the EMP keeps its URL."""
    return f"{country.lower()}-{hashlib.sha256(url.encode('utf-8')).hexdigest()[:10]}"


_DEFAULT_PORTS = {"https": 443, "http": 80}


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lower-cased, without a default port (RFC 6454)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    return f"{scheme}://{host}" if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class RegistryPart:
    """What one registry (``EMREX_REGISTRY_URLS`` lists several) contributed to a snapshot."""

    source: str
    fetched_at: datetime
    emps: tuple[Emp, ...] = ()
    etag: str | None = None
    cache_until: datetime | None = None
    warnings: tuple[str, ...] = ()
    unread: int = 0
    """Entries and certificates of this registry the parse skipped (``ParsedRegistry.unread``)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "fetched_at": self.fetched_at.isoformat(),
            "etag": self.etag,
            "cache_until": self.cache_until.isoformat() if self.cache_until else None,
            "warnings": list(self.warnings),
            "unread": self.unread,
            "emps": [emp.to_json() for emp in self.emps],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegistryPart:
        cache_until = data.get("cache_until")
        return cls(
            source=str(data["source"]),
            fetched_at=datetime.fromisoformat(data["fetched_at"]),
            etag=data.get("etag"),
            cache_until=datetime.fromisoformat(cache_until) if cache_until else None,
            warnings=tuple(data.get("warnings", ())),
            unread=int(data.get("unread") or 0),
            emps=tuple(Emp.from_json(e) for e in data.get("emps", ())),
        )


SOURCE_SEPARATOR = " | "
"""Joins the sources of a snapshot made of several registries (``source`` of the snapshot and its item)."""


@dataclass(frozen=True)
class RegistrySnapshot:
    """What the refresh function stores and both Lambdas read.

    A snapshot of several registries keeps each one's part (its own ETag, cache lifetime and EMPs, so each
    is fetched conditionally on its own); ``emps`` is then all of them, in the order of the parts, and
    ``fetched_at`` the oldest part's (the staleness alarm sees a registry that keeps failing).
    """

    fetched_at: datetime
    """When the registry was last fetched successfully (timezone-aware UTC)."""
    source: str
    emps: tuple[Emp, ...] = ()
    etag: str | None = None
    cache_until: datetime | None = None
    warnings: tuple[str, ...] = field(default=())
    unread: int = 0
    """Registry entries and certificates the parse skipped (``ParsedRegistry.unread``)."""
    parts: tuple[RegistryPart, ...] = ()
    """Set for a snapshot of more than one registry; see :meth:`source_parts`."""

    @classmethod
    def of_parts(cls, parts: Iterable[RegistryPart]) -> RegistrySnapshot:
        """One registry's part becomes a plain snapshot (stored as before); several are kept apart."""
        parts = tuple(parts)
        if not parts:
            raise ValueError("a snapshot needs at least one registry part")
        if len(parts) == 1:
            (only,) = parts
            return cls(only.fetched_at, only.source, only.emps, only.etag, only.cache_until, only.warnings, only.unread)
        expiries = [part.cache_until for part in parts if part.cache_until is not None]
        return cls(
            fetched_at=min(part.fetched_at for part in parts),
            source=SOURCE_SEPARATOR.join(part.source for part in parts),
            emps=tuple(emp for part in parts for emp in part.emps),
            cache_until=min(expiries) if len(expiries) == len(parts) else None,
            warnings=tuple(warning for part in parts for warning in part.warnings),
            unread=sum(part.unread for part in parts),
            parts=parts,
        )

    def source_parts(self) -> tuple[RegistryPart, ...]:
        """The registries this snapshot was made of (one part for a single-registry snapshot)."""
        if self.parts:
            return self.parts
        return (
            RegistryPart(
                self.source, self.fetched_at, self.emps, self.etag, self.cache_until, self.warnings, self.unread
            ),
        )

    def without_warnings(self, note: str) -> RegistrySnapshot:
        """The same EMPs with every warning replaced by ``note`` (to fit the snapshot into its table item)."""
        if not self.parts:
            return replace(self, warnings=(note,))
        parts = tuple(replace(part, warnings=()) for part in self.parts)
        return replace(self, warnings=(note,), parts=(replace(parts[0], warnings=(note,)), *parts[1:]))

    def without_emps(self, left_out: Collection[Emp], reason: str) -> RegistrySnapshot:
        """The snapshot without ``left_out`` (to fit it into its table item).

        Each part gets one warning per EMP it lost, naming it, and counts it as unread: the EMP is not gone from
        the registry, so registry changes are not announced against this snapshot
        (:mod:`emrex_emc.core.registry_events`). A part that lost EMPs forgets its ETag: its next fetch reads the
        whole document again (a "not modified" answer would keep the part without them)."""
        parts = []
        for part in self.source_parts():
            lost = [emp for emp in part.emps if emp in left_out]
            if not lost:
                parts.append(part)
                continue
            notes = tuple(f"EMP {clip(emp.id, 40)} ({clip(emp.name, 60)}) left out: {reason}" for emp in lost)
            kept = tuple(emp for emp in part.emps if emp not in left_out)
            warnings = (*part.warnings, *notes)
            parts.append(replace(part, emps=kept, etag=None, warnings=warnings, unread=part.unread + len(lost)))
        return RegistrySnapshot.of_parts(parts)

    def age(self, now: datetime) -> timedelta:
        return now - self.fetched_at

    def is_stale(self, now: datetime, max_age_seconds: int) -> bool:
        return self.age(now).total_seconds() > max_age_seconds

    def find(self, emp_id_: str) -> Emp | None:
        return next((emp for emp in self.emps if emp.id == emp_id_), None)

    def to_json(self) -> dict[str, Any]:
        """Several registries: their parts; one registry: the fields of its only part (the form stored first)."""
        if self.parts:  # the EMPs live in their parts only (the table item is size-bound)
            return {"source": self.source, "parts": [part.to_json() for part in self.parts]}
        return self.source_parts()[0].to_json()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegistrySnapshot:
        if "parts" in data:
            return cls.of_parts(RegistryPart.from_json(part) for part in data["parts"])
        return cls.of_parts([RegistryPart.from_json(data)])


@dataclass(frozen=True)
class FetchResult:
    """One registry fetch: the body (or not modified) and how long it may be cached."""

    not_modified: bool
    """True when the server answered 304 (or a file is unchanged): keep the EMPs already known."""
    body: bytes | None
    etag: str | None
    cache_until: datetime
