"""Outbox relay: outbox rows and transfer expiries (from the DynamoDB stream) -> EventBridge.

Runs behind an event source mapping with ``ReportBatchItemFailures``: rows whose event could not be
published are reported back (Lambda retries from the lowest failed sequence number); every other row
of the batch is still published, so one bad row does not hold back the rest. Events already relayed (a
retried batch) are skipped using the outbox row's ``published_at`` mark: one event per event id in the
normal case, at least once in every case. A row that is gone from the table was erased: its event is
never published, not even from a retried batch. An expiry has no outbox row: its event id is derived from
the transfer, so a retried batch publishes the same event again (consumers deduplicate on ``event_id``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from emrex_emc.core.events import OutboxBatch, OutboxRecord, PublishFailed
from emrex_emc.services.ports import Ledger, Publisher

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayReport:
    published: tuple[str, ...]
    skipped: tuple[str, ...]
    """Event ids already relayed earlier (retried batch) or repeated within the batch."""
    failed_sequence_numbers: tuple[str, ...]


def relay(batch: OutboxBatch, publisher: Publisher, ledger: Ledger, clock: Callable[[], float]) -> RelayReport:
    failed = list(batch.malformed)
    if batch.malformed:
        logger.error("outbox rows without a usable entry", extra={"rows": len(batch.malformed)})
    to_send, skipped = _unpublished(batch.records, ledger)
    failed_indexes: set[int] = set()
    try:
        publisher.publish([record.entry for record in to_send])
    except PublishFailed as exc:
        failed_indexes = set(exc.failed)
        logger.warning("EventBridge rejected events", extra={"rejected": len(failed_indexes), "sent": len(to_send)})
    published: list[str] = []
    now = int(clock())
    for index, record in enumerate(to_send):
        if index in failed_indexes:
            failed.append(record.sequence_number)
            continue
        published.append(record.event_id)
        try:
            if record.key is not None:
                ledger.mark_published(record.key, now=now)
        except Exception:  # the event is out; a missing mark only risks a duplicate on a retry
            logger.exception("could not mark an event as published", extra={"event_id": record.event_id})
    return RelayReport(tuple(published), tuple(skipped), tuple(failed))


def _unpublished(records: Sequence[OutboxRecord], ledger: Ledger) -> tuple[list[OutboxRecord], list[str]]:
    keys = [record.key for record in records if record.key is not None]
    settled = ledger.settled(keys) if keys else set()
    seen: set[str] = set()
    to_send: list[OutboxRecord] = []
    skipped: list[str] = []
    for record in records:
        if record.event_id in seen or (record.key is not None and record.key in settled):
            skipped.append(record.event_id)
        else:
            seen.add(record.event_id)
            to_send.append(record)
    return to_send, skipped
