"""Refresh the registry snapshot: fetch (conditionally), parse, compare with the previous one, store.

The report lists what changed for operators (EMP added / removed, URL changed, certificates changed);
it names EMPs by id, name and country only (no personal data), every registry value clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.registry import SOURCE_SEPARATOR, Emp, RegistryPart, RegistrySnapshot
from emrex_emc.core.registry_parse import parse_registry
from emrex_emc.core.text import MAX_MESSAGE_CHARS, clip
from emrex_emc.services.ports import Fetcher, SnapshotStore

ChangeKind = Literal["added", "removed", "url_changed", "certificates_changed"]
RefreshStatus = Literal["updated", "not_modified", "skipped", "superseded", "failed"]
"""``skipped``: nothing fetched, the stored snapshot is still within its cache lifetime. ``superseded``:
fetched, but a concurrent refresh that fetched later had already stored its snapshot, which is kept and
reported (not a failure). ``failed``: the refresh failed and the previous snapshot stays in use (its age is
what the staleness alarm watches)."""
NOTICE_SOURCE_FAILED = "REGISTRY_SOURCE_FAILED"
"""One of several registries could not be used: what it listed before stays in the snapshot."""
NOTICE_SNAPSHOT_TRIMMED = "REGISTRY_SNAPSHOT_TRIMMED"
"""What the store left out so the snapshot fits its table item (its warnings, then EMPs: new ones first)."""


@dataclass(frozen=True)
class EmpChange:
    kind: ChangeKind
    emp_id: str
    name: str
    country: str
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "emp_id": self.emp_id,
            "name": self.name,
            "country": self.country,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RefreshReport:
    status: RefreshStatus
    source: str
    snapshot: RegistrySnapshot
    changes: tuple[EmpChange, ...] = ()
    notices: tuple[Notice, ...] = ()
    error: EmrexError | None = None
    """Why a ``failed`` refresh failed."""
    first_load: bool = False
    """No snapshot was stored before: every EMP is in ``changes`` as added, but nothing changed for anyone."""

    @property
    def emp_count(self) -> int:
        return len(self.snapshot.emps)

    def to_json(self, *, now: datetime, max_age_seconds: int) -> dict[str, Any]:
        cache_until = self.snapshot.cache_until
        data: dict[str, Any] = {
            "status": self.status,
            "source": self.source,
            "fetched_at": self.snapshot.fetched_at.isoformat(),
            "cache_until": cache_until.isoformat() if cache_until else None,
            "emp_count": self.emp_count,
            "changes": [change.to_json() for change in self.changes],
            "notices": [notice.to_json() for notice in self.notices],
        }
        if self.error is not None:
            data.update(
                error=self.error.to_json(),
                snapshot_age_seconds=int(self.snapshot.age(now).total_seconds()),
                snapshot_stale=self.snapshot.is_stale(now, max_age_seconds),
            )
        return data


def refresh_or_keep(
    *,
    fetcher: Fetcher,
    store: SnapshotStore,
    source: str | Sequence[str],
    now: datetime,
    force: bool = False,
    allow_loopback_http: bool = False,
) -> RefreshReport:
    """:func:`refresh_registry`; a failure with a snapshot in place is reported (``failed``), never raised.

    Without any snapshot the error is raised: there is nothing students could be offered.
    """
    try:
        return refresh_registry(
            fetcher=fetcher, store=store, source=source, now=now, force=force, allow_loopback_http=allow_loopback_http
        )
    except EmrexError as error:
        previous = store.load(use_cache=False)
        if previous is None:
            raise
        return RefreshReport(status="failed", source=_label(source), snapshot=previous, error=error)


def refresh_registry(
    *,
    fetcher: Fetcher,
    store: SnapshotStore,
    source: str | Sequence[str],
    now: datetime,
    force: bool = False,
    allow_loopback_http: bool = False,
) -> RefreshReport:
    """Bring the stored snapshot up to date with ``source`` (one registry, or several combined).

    Each registry is refreshed on its own: while its part's ``cache_until`` lies ahead it is not fetched
    (unless ``force``); a 304 keeps its EMPs and only moves ``fetched_at`` / ``cache_until``; a document
    without any EMP never replaces a part that has some (a broken registry must not empty the chooser):
    REGISTRY_INVALID. With several registries, one that fails keeps what it listed before (a
    ``REGISTRY_SOURCE_FAILED`` notice, the report's ``error``); only when all fail is the error raised.
    """
    sources = (source,) if isinstance(source, str) else tuple(source)
    label = _label(sources)
    previous = store.load(use_cache=False)
    known = {part.source: part for part in previous.source_parts()} if previous is not None else {}
    if previous is not None and not force and tuple(known) == sources and all(_fresh(p, now) for p in known.values()):
        return RefreshReport(status="skipped", source=label, snapshot=previous)

    parts: list[RegistryPart] = []
    notices: list[Notice] = []
    errors: list[EmrexError] = []
    fetched = False
    for one in sources:
        part = known.get(one)
        try:
            if part is None or force or not _fresh(part, now):
                part, parsed_notices = _refresh_part(fetcher, one, part, now, allow_loopback_http)
                fetched = fetched or parsed_notices is not None
                notices.extend(parsed_notices or ())
        except EmrexError as failure:
            if len(sources) == 1:
                raise
            errors.append(failure)
            notices.append(Notice(NOTICE_SOURCE_FAILED, f"{clip(one)}: {failure.code.value}: {failure.message}"))
        if part is not None:
            parts.append(part)
    if not parts or len(errors) == len(sources):
        raise errors[0]
    snapshot = RegistrySnapshot.of_parts(parts)
    stored = store.save(snapshot)
    if stored is None:
        return _superseded(store, label, snapshot)
    attempted = set(snapshot.warnings)
    notices.extend(Notice(NOTICE_SNAPSHOT_TRIMMED, note) for note in stored.warnings if note not in attempted)
    changes = diff_emps(previous.emps if previous else (), stored.emps)
    status: RefreshStatus = "updated" if fetched or tuple(known) != sources else "not_modified"
    first_error = errors[0] if errors else None
    return RefreshReport(
        status, label, stored, changes=changes, notices=tuple(notices), error=first_error, first_load=previous is None
    )


def _label(source: str | Sequence[str]) -> str:
    return source if isinstance(source, str) else SOURCE_SEPARATOR.join(source)


def _fresh(part: RegistryPart, now: datetime) -> bool:
    return part.cache_until is not None and part.cache_until > now


def _refresh_part(
    fetcher: Fetcher, source: str, previous: RegistryPart | None, now: datetime, allow_loopback_http: bool
) -> tuple[RegistryPart, tuple[Notice, ...] | None]:
    """The registry's new part, and the notices of parsing it (None when it answered "not modified")."""
    result = fetcher.fetch(source, etag=previous.etag if previous else None, now=now)
    if result.not_modified:
        if previous is None:
            raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, "the registry answered 'not modified' to a first fetch")
        etag = result.etag or previous.etag
        return replace(previous, fetched_at=now, cache_until=result.cache_until, etag=etag), None
    if result.body is None:
        raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, "the registry fetch returned no document")
    parsed = parse_registry(result.body, allow_loopback_http=allow_loopback_http)
    if not parsed.emps and previous is not None and previous.emps:
        raise EmrexError(
            ErrorCode.REGISTRY_INVALID,
            f"the registry lists no usable EMP (previous snapshot had {len(previous.emps)}); the previous one is kept",
        )
    part = RegistryPart(
        source=source,
        fetched_at=now,
        emps=parsed.emps,
        etag=result.etag,
        cache_until=result.cache_until,
        warnings=tuple(notice.message for notice in parsed.notices),
        unread=parsed.unread,
    )
    return part, parsed.notices


def _superseded(store: SnapshotStore, source: str, attempted: RegistrySnapshot) -> RefreshReport:
    newer = store.load(use_cache=False)
    return RefreshReport(status="superseded", source=source, snapshot=newer or attempted)


def diff_emps(before: tuple[Emp, ...], after: tuple[Emp, ...]) -> tuple[EmpChange, ...]:
    """What changed between two EMP lists. The id follows the URL, so a new URL for an EMP with the same
    name and country is reported as ``url_changed`` (not as removed + added)."""
    old = {emp.id: emp for emp in before}
    new = {emp.id: emp for emp in after}
    removed = {emp_id: emp for emp_id, emp in old.items() if emp_id not in new}
    changes: list[EmpChange] = []
    for emp in after:
        previous = old.get(emp.id)
        if previous is None:
            previous = _take_same_name(removed, emp)
            if previous is None:
                changes.append(_change("added", emp, emp.url))
                continue
            changes.append(_change("url_changed", emp, f"{clip(previous.url)} -> {clip(emp.url)}"))
        if set(previous.certificate_fingerprints()) != set(emp.certificate_fingerprints()):
            changes.append(_change("certificates_changed", emp, _fingerprint_delta(previous, emp)))
    changes.extend(_change("removed", emp, emp.url) for emp in removed.values())
    return tuple(changes)


def _take_same_name(candidates: dict[str, Emp], emp: Emp) -> Emp | None:
    for emp_id, candidate in candidates.items():
        if candidate.name == emp.name and candidate.country == emp.country:
            return candidates.pop(emp_id)
    return None


def _fingerprint_delta(before: Emp, after: Emp) -> str:
    old, new = set(before.certificate_fingerprints()), set(after.certificate_fingerprints())
    added = ", ".join(f[:16] for f in sorted(new - old)) or "none"
    removed = ", ".join(f[:16] for f in sorted(old - new)) or "none"
    return f"added sha256 {added}; removed sha256 {removed}"


def _change(kind: ChangeKind, emp: Emp, detail: str) -> EmpChange:
    """The EMP may come from a snapshot stored before entries were capped: its values are clipped here."""
    return EmpChange(
        kind=kind,
        emp_id=clip(emp.id),
        name=clip(emp.name),
        country=clip(emp.country),
        detail=clip(detail, MAX_MESSAGE_CHARS),
    )
