"""The EMP model shared by discovery (registry parsing), the chooser and the trust pipeline.

Parsing of the EWP catalogue and the EMREG JSON lives in :mod:`emrex_emc.core.registry_parse`;
fetching and storing snapshots are adapters. This module only holds the data shapes.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MAX_REGISTRY_BYTES = 20 * 1024 * 1024
"""Largest registry document fetched or parsed (the EWP catalogue of every EWP host is a few MB)."""
EMREX_1 = "emrex-1"
"""The protocol of EWP / EMREG v1 EMPs: EMREX 1 on the wire, results signed with the EMP's X.509 certificates."""


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
        )


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
