"""Announce what a registry refresh found: EMP added / removed / keys changed, certificates expiring.

Runs after every refresh (:func:`emrex_emc.services.registry_refresh.refresh_or_keep`), whatever its status,
on the snapshot in use. Expiring certificates are checked every time. Added, removed and changed EMPs come
from comparing the snapshot with the baseline (the last complete snapshot), and only when the snapshot is
complete too (it could read as many entries and certificates as the baseline's): the first load only stores
the baseline. Events are queued in the outbox before the baseline moves on, with ids derived from the
change, so a refresh that dies in between queues the same events again (not new ones) on the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from emrex_emc.core.registry_events import EmpEvent, RegistryBaseline, emp_changes, expiring_certificates
from emrex_emc.services.ports import Baselines, EventOutbox
from emrex_emc.services.registry_refresh import RefreshReport

logger = logging.getLogger(__name__)

Comparison = Literal["compared", "first_load", "partial"]


@dataclass(frozen=True)
class Announcement:
    comparison: Comparison
    changes: tuple[EmpEvent, ...] = ()
    expiring: tuple[EmpEvent, ...] = ()
    queued: int = 0
    """Events queued by this refresh (an expiring certificate already announced today is not queued again)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "comparison": self.comparison,
            "queued": self.queued,
            "changes": [{"detail_type": e.detail_type.value, "emp_id": e.emp.id} for e in self.changes],
            "expiring": [
                {"emp_id": e.emp.id, **(e.certificate.to_json() if e.certificate else {})} for e in self.expiring
            ],
        }


def announce(
    report: RefreshReport, *, baselines: Baselines, outbox: EventOutbox, now: datetime, warning_days: int
) -> Announcement:
    snapshot = report.snapshot
    expiring = tuple(expiring_certificates(snapshot.emps, now=now, warning_days=warning_days))
    changes: tuple[EmpEvent, ...] = ()
    baseline = baselines.load()
    current = RegistryBaseline.of(snapshot.fetched_at, snapshot.emps, snapshot.unread)
    comparison: Comparison
    if baseline is None:
        comparison = "first_load"
    elif current.unread > baseline.unread:
        comparison = "partial"
        logger.warning(
            "the registry snapshot lacks entries or certificates the last complete one could read: "
            "EMP changes are not announced until the registry reads completely",
            extra={"unread_more": current.unread - baseline.unread},
        )
    else:
        comparison = "compared"
        changes = tuple(emp_changes(baseline, current.emps, now=now))
    queued = outbox.add([*changes, *expiring], now=int(now.timestamp()))
    stored = comparison == "partial" or not _moved(baseline, current) or baselines.save(current, replacing=baseline)
    if not stored:
        logger.info("registry baseline moved by a concurrent refresh; kept theirs")
    return Announcement(comparison, changes, expiring, queued)


def _moved(baseline: RegistryBaseline | None, current: RegistryBaseline) -> bool:
    """Whether the baseline must be replaced (its version, and so the next event ids, move only then)."""
    return baseline is None or (baseline.emps, baseline.unread) != (current.emps, current.unread)
