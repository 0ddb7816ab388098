"""Erase an applicant on request (GDPR Art. 17): every transfer, its evidence, outcome, events and audit data.

1. The applicant index lists the applicant's transfers (no scan).
2. ``EMREX Applicant Erased`` (applicant id, transfer ids) is published first, straight to the bus: once the
   transfers are erased nothing names the applicant any more, so a later retry could not announce them. A
   bus that refuses it stops the erasure before anything is erased (a 503: the caller retries).
3. Each transfer is erased (:class:`~emrex_emc.services.ports.Eraser`): a tombstone stays.
4. An audit record of the erasure (ids and counts, not the applicant).

Idempotent: a repeated request finds nothing left to erase (``erased`` 0). The event id derives from the
applicant and the transfer ids, so the SIS can deduplicate a repeated announcement.
"""

from __future__ import annotations

from dataclasses import dataclass

from emrex_emc.core.audit import ErasureRecord
from emrex_emc.core.events import ApplicantErasedEvent
from emrex_emc.core.transfer import utc_iso
from emrex_emc.services.ports import ApplicantTransfers, Clock, Eraser, ErasureAudit, EventSender, IdFactory


@dataclass(frozen=True)
class ErasureResult:
    session_ids: tuple[str, ...]
    """The transfers this request erased (already erased ones are not repeated)."""

    @property
    def erased(self) -> int:
        return len(self.session_ids)


class ErasureService:
    def __init__(
        self,
        *,
        transfers: ApplicantTransfers,
        eraser: Eraser,
        audit: ErasureAudit,
        events: EventSender,
        retention_days: int,
        clock: Clock,
        new_id: IdFactory,
    ) -> None:
        self._transfers = transfers
        self._eraser = eraser
        self._audit = audit
        self._events = events
        self._keep_seconds = retention_days * 86400
        self._clock = clock
        self._new_id = new_id

    def erase(self, applicant_id: str, *, request_id: str) -> ErasureResult:
        listed = self._transfers.of_applicant(applicant_id)
        if not listed:
            return ErasureResult(())
        now = int(self._clock())
        event = ApplicantErasedEvent(applicant_id, tuple(t.id for t in listed), erased_at=utc_iso(now))
        self._events.send([event])
        erased = tuple(t.id for t in listed if self._eraser.erase(t.id, now=now, keep_until=now + self._keep_seconds))
        self._audit.record(ErasureRecord(self._new_id(), now, event.event_id, erased, request_id))
        return ErasureResult(erased)
