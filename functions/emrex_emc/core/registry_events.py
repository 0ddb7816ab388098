"""Registry changes as events for operators: an EMP added, removed, its keys changed, a certificate expiring.

Added, Removed and Certificate Changed compare the EMPs of two *complete* snapshots: the last complete one is
kept as a :class:`RegistryBaseline`, so nothing is announced on the first load, and a refresh that could read
fewer entries or certificates than the baseline (a broken entry would look like a removed EMP) announces
nothing and leaves the baseline as it is. Expiring is checked on every refresh against the snapshot in use.
Every event names its EMP with one shape (:func:`emrex_emc.core.events.emp_detail`) and carries the old and
new SHA-256 fingerprints of the EMP's keys (certificates for ``emrex-1`` EMPs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from emrex_emc.core.events import SCHEMA_VERSION, DetailType, derived_event_id
from emrex_emc.core.registry import Emp
from emrex_emc.core.text import MAX_FIELD_CHARS, clip

MAX_URL_CHARS = 2_000
"""As the registry parser caps it: an EMP URL is never cut (it would point elsewhere)."""


@dataclass(frozen=True)
class EmpKeys:
    """What a registry comparison looks at for one EMP: who it is and the fingerprints of its keys."""

    id: str
    name: str
    country: str
    url: str
    protocol: str
    key_type: str
    fingerprints: tuple[str, ...]

    @classmethod
    def of(cls, emp: Emp) -> EmpKeys:
        """Values are clipped: a snapshot stored before entries were capped may hold longer ones."""
        return cls(
            id=clip(emp.id),
            name=clip(emp.name, MAX_FIELD_CHARS),
            country=clip(emp.country, 2),
            url=emp.url[:MAX_URL_CHARS],
            protocol=emp.protocol.value,
            key_type=emp.key_type,
            fingerprints=tuple(sorted(set(emp.key_fingerprints()))),
        )

    def emp_detail(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "country": self.country, "url": self.url, "protocol": self.protocol}

    def to_json(self) -> dict[str, Any]:
        return {**self.emp_detail(), "key_type": self.key_type, "fingerprints": list(self.fingerprints)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmpKeys:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            country=str(data["country"]),
            url=str(data["url"]),
            protocol=str(data["protocol"]),
            key_type=str(data["key_type"]),
            fingerprints=tuple(str(f) for f in data.get("fingerprints", ())),
        )


@dataclass(frozen=True)
class RegistryBaseline:
    """The EMPs of the last complete snapshot: what the next complete refresh is compared with."""

    fetched_at: datetime
    unread: int
    """Entries and certificates the parse of that snapshot could not read (a refresh reading fewer is partial)."""
    emps: tuple[EmpKeys, ...]

    @classmethod
    def of(cls, fetched_at: datetime, emps: Iterable[Emp], unread: int) -> RegistryBaseline:
        return cls(fetched_at=fetched_at, unread=unread, emps=tuple(EmpKeys.of(emp) for emp in emps))

    def version(self) -> str:
        return self.fetched_at.astimezone(UTC).isoformat()

    def to_json(self) -> dict[str, Any]:
        return {"fetched_at": self.version(), "unread": self.unread, "emps": [emp.to_json() for emp in self.emps]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegistryBaseline:
        return cls(
            fetched_at=datetime.fromisoformat(str(data["fetched_at"])),
            unread=int(data.get("unread", 0)),
            emps=tuple(EmpKeys.from_json(emp) for emp in data.get("emps", ())),
        )


@dataclass(frozen=True)
class CertificateExpiry:
    sha256: str
    not_after: datetime
    days_left: int
    """Whole days until ``not_after`` (negative once it has passed)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "not_after": self.not_after.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "days_left": self.days_left,
        }


@dataclass(frozen=True)
class EmpEvent:
    """One registry event (``detail_type`` is one of :data:`~emrex_emc.core.events.OPERATIONS_DETAIL_TYPES`)."""

    detail_type: DetailType
    emp: EmpKeys
    old_fingerprints: tuple[str, ...]
    new_fingerprints: tuple[str, ...]
    detected_at: str
    event_id: str
    certificate: CertificateExpiry | None = None
    """The expiring certificate (``EMREX EMP Certificate Expiring`` only)."""

    def detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "event_id": self.event_id,
            "schema_version": SCHEMA_VERSION,
            "emp": self.emp.emp_detail(),
            "key_type": self.emp.key_type,
            "old_fingerprints": list(self.old_fingerprints),
            "new_fingerprints": list(self.new_fingerprints),
            "detected_at": self.detected_at,
        }
        if self.certificate is not None:
            detail["certificate"] = self.certificate.to_json()
        return detail


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def emp_changes(baseline: RegistryBaseline, current: Sequence[EmpKeys], *, now: datetime) -> list[EmpEvent]:
    """Added, removed and key-changed EMPs between the baseline and the current EMPs (compared by id).

    An EMP that moved to a new URL has a new id: it is announced as removed (old id) and added (new id).
    Event ids derive from the baseline's version and the change, so a retried refresh repeats the same ids.
    """
    old = {emp.id: emp for emp in baseline.emps}
    new = {emp.id: emp for emp in current}
    detected_at, version = _iso(now), baseline.version()

    def event(kind: DetailType, emp: EmpKeys, before: tuple[str, ...], after: tuple[str, ...]) -> EmpEvent:
        event_id = derived_event_id(kind.value, version, emp.id, ",".join(before), ",".join(after))
        return EmpEvent(kind, emp, before, after, detected_at, event_id)

    events: list[EmpEvent] = []
    for emp in current:
        previous = old.get(emp.id)
        if previous is None:
            events.append(event(DetailType.EMP_ADDED, emp, (), emp.fingerprints))
        elif previous.fingerprints != emp.fingerprints:
            events.append(event(DetailType.EMP_CERTIFICATE_CHANGED, emp, previous.fingerprints, emp.fingerprints))
    events.extend(
        event(DetailType.EMP_REMOVED, emp, emp.fingerprints, ()) for emp in baseline.emps if emp.id not in new
    )
    return events


def certificate_expiries(emp: Emp, now: datetime) -> list[CertificateExpiry]:
    """Every readable certificate of ``emp`` with its expiry (the parser already checked they are X.509)."""
    expiries = []
    for der, fingerprint in zip(emp.certificates, emp.certificate_fingerprints(), strict=True):
        try:
            not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
        except ValueError:
            continue
        days_left = math.floor((not_after - now).total_seconds() / 86400)
        expiries.append(CertificateExpiry(fingerprint, not_after, days_left))
    return expiries


def expiring_certificates(emps: Iterable[Emp], *, now: datetime, warning_days: int) -> list[EmpEvent]:
    """One event per certificate that expires within ``warning_days`` (or has expired), per UTC day.

    The event id is the certificate, its EMP and today's date: stored with a conditional write, a
    certificate is announced at most once a day however often the registry is refreshed.
    """
    events = []
    today = now.astimezone(UTC).date().isoformat()
    for emp in emps:
        for expiry in certificate_expiries(emp, now):
            if expiry.days_left > warning_days:
                continue
            keys = EmpKeys.of(emp)
            kind = DetailType.EMP_CERTIFICATE_EXPIRING
            event_id = derived_event_id(kind.value, keys.id, expiry.sha256, today)
            events.append(
                EmpEvent(kind, keys, keys.fingerprints, keys.fingerprints, _iso(now), event_id, certificate=expiry)
            )
    return events


def days_until_expiry(emp: Emp, now: datetime) -> int | None:
    """Days until the EMP's first certificate expires (what the dashboard shows per EMP); None without any."""
    days = [expiry.days_left for expiry in certificate_expiries(emp, now)]
    return min(days) if days else None
