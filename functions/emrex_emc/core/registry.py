"""The EMP model shared by discovery (registry parsing), the chooser and the trust pipeline.

Parsing of the EWP catalogue and the EMREG JSON lives in :mod:`emrex_emc.core.registry_parse`;
fetching and storing snapshots are adapters. This module only holds the data shapes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

MAX_REGISTRY_BYTES = 20 * 1024 * 1024
"""Largest registry document fetched or parsed (the EWP catalogue of every EWP host is a few MB)."""
EMREX_1 = "emrex-1"
"""The protocol of EWP / EMREG v1 EMPs: EMREX 1 on the wire, results signed with the EMP's X.509 certificates."""


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
class Emp:
    """One EMREX data provider, normalized from either registry format."""

    id: str
    """Stable id: ``{country lower}-{first 10 hex of sha256(url)}``; see :func:`emp_id`."""
    name: str
    url: str
    country: str
    """ISO 3166-1 alpha-2, upper case."""
    institutions: tuple[str, ...] = ()
    certificates: tuple[bytes, ...] = ()
    """DER-encoded X.509 certificates that may sign this EMP's ELMO documents."""
    single_fetch: bool = False
    """EMREG ``singleFetch``: the country has one EMP per institution."""
    source: str = "ewp"
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
    def protocol(self) -> str:
        return EMREX_1

    @property
    def key_type(self) -> str:
        """What :meth:`key_fingerprints` are fingerprints of: ``certificate`` for ``emrex-1`` EMPs."""
        return "certificate"

    def key_fingerprints(self) -> tuple[str, ...]:
        """SHA-256 (hex) of every key this EMP's results may be signed with, whatever form the keys take
        (registry changes are compared on these)."""
        return self.certificate_fingerprints()

    def to_json(self) -> dict[str, Any]:
        return {
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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Emp:
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
        )


def fold_id(value: str) -> str:
    """An identifier as compared: whitespace collapsed, case folded (``G  ATHINE01`` = ``g athine01``)."""
    return " ".join(value.split()).casefold()


def emp_id(country: str, url: str) -> str:
    """A short id that stays the same across refreshes as long as the EMP keeps its URL."""
    return f"{country.lower()}-{hashlib.sha256(url.encode('utf-8')).hexdigest()[:10]}"


@dataclass(frozen=True)
class RegistrySnapshot:
    """What the refresh function stores and both Lambdas read."""

    fetched_at: datetime
    """When the registry was last fetched successfully (timezone-aware UTC)."""
    source: str
    emps: tuple[Emp, ...] = ()
    etag: str | None = None
    cache_until: datetime | None = None
    warnings: tuple[str, ...] = field(default=())
    unread: int = 0
    """Registry entries and certificates the parse skipped (``ParsedRegistry.unread``)."""

    def age(self, now: datetime) -> timedelta:
        return now - self.fetched_at

    def is_stale(self, now: datetime, max_age_seconds: int) -> bool:
        return self.age(now).total_seconds() > max_age_seconds

    def find(self, emp_id_: str) -> Emp | None:
        return next((emp for emp in self.emps if emp.id == emp_id_), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "fetched_at": self.fetched_at.isoformat(),
            "source": self.source,
            "etag": self.etag,
            "cache_until": self.cache_until.isoformat() if self.cache_until else None,
            "warnings": list(self.warnings),
            "unread": self.unread,
            "emps": [emp.to_json() for emp in self.emps],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegistrySnapshot:
        cache_until = data.get("cache_until")
        return cls(
            fetched_at=datetime.fromisoformat(data["fetched_at"]),
            source=str(data["source"]),
            etag=data.get("etag"),
            cache_until=datetime.fromisoformat(cache_until) if cache_until else None,
            warnings=tuple(data.get("warnings", ())),
            unread=int(data.get("unread", 0)),
            emps=tuple(Emp.from_json(e) for e in data.get("emps", ())),
        )


@dataclass(frozen=True)
class FetchResult:
    not_modified: bool
    """True when the server answered 304 (or a file is unchanged): keep the EMPs already known."""
    body: bytes | None
    etag: str | None
    cache_until: datetime
