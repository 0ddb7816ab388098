"""Outbox relay: DynamoDB stream records of new ``OUTBOX#`` items -> EventBridge.

Runs behind an event source mapping with ``ReportBatchItemFailures``: records whose event could not be
published are returned in ``batchItemFailures`` (Lambda retries from the lowest failed sequence
number); every other record of the batch is still published, so one bad record does not hold back
the rest. Events already relayed (a retried batch) are skipped using the outbox row's
``published_at`` mark: one event per event id in the normal case, at least once in every case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer

from emrex_emc.adapters.events import PublishError

logger = logging.getLogger(__name__)
OUTBOX_PREFIX = "OUTBOX#"
_ENTRY_FIELDS = ("Source", "DetailType", "Detail", "EventBusName")
_deserializer = TypeDeserializer()


class Publisher(Protocol):
    def publish(self, entries: Sequence[Mapping[str, str]]) -> None: ...


class Ledger(Protocol):
    def published(self, event_ids: Sequence[str]) -> set[str]: ...

    def mark_published(self, event_id: str, *, now: int) -> None: ...


@dataclass(frozen=True)
class OutboxRecord:
    sequence_number: str
    event_id: str
    entry: dict[str, str]


@dataclass(frozen=True)
class RelayReport:
    published: tuple[str, ...]
    skipped: tuple[str, ...]
    """Event ids already relayed earlier (retried batch) or repeated within the batch."""
    failed_sequence_numbers: tuple[str, ...]

    def batch_response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in self.failed_sequence_numbers]}


class RecordError(ValueError):
    """An OUTBOX# stream record without a usable entry."""


def outbox_record(record: Mapping[str, Any]) -> OutboxRecord | None:
    """The outbox entry of a stream record, or None when the record is not an OUTBOX# insert (transfers,
    audit records and the ``REGISTRY#snapshot`` item share the table and its stream)."""
    data = record.get("dynamodb") or {}
    image = data.get("NewImage") or {}
    pk = (image.get("pk") or data.get("Keys", {}).get("pk") or {}).get("S", "")
    if record.get("eventName") != "INSERT" or not pk.startswith(OUTBOX_PREFIX):
        return None
    sequence = str(data.get("SequenceNumber") or "")
    try:
        entry = _deserializer.deserialize(image["entry"])
        event_id = str(_deserializer.deserialize(image["event_id"]))
    except (KeyError, TypeError) as exc:
        raise RecordError(f"outbox record {sequence} has no entry") from exc
    if not isinstance(entry, dict) or any(not isinstance(entry.get(name), str) for name in _ENTRY_FIELDS):
        raise RecordError(f"outbox record {sequence} has a malformed entry")
    return OutboxRecord(sequence, event_id, {name: str(entry[name]) for name in _ENTRY_FIELDS})


def relay(
    records: Sequence[Mapping[str, Any]],
    publisher: Publisher,
    ledger: Ledger,
    clock: Callable[[], float],
) -> RelayReport:
    failed: list[str] = []
    candidates: list[OutboxRecord] = []
    for record in records:
        try:
            parsed = outbox_record(record)
        except RecordError:
            logger.exception("malformed outbox record")
            failed.append(str((record.get("dynamodb") or {}).get("SequenceNumber") or ""))
            continue
        if parsed is not None:
            candidates.append(parsed)

    done = ledger.published([c.event_id for c in candidates]) if candidates else set()
    to_send: list[OutboxRecord] = []
    skipped: list[str] = []
    for candidate in candidates:
        if candidate.event_id in done:
            skipped.append(candidate.event_id)
        else:
            done.add(candidate.event_id)
            to_send.append(candidate)

    failed_indexes: set[int] = set()
    try:
        publisher.publish([c.entry for c in to_send])
    except PublishError as exc:
        failed_indexes = set(exc.failed)
        logger.warning("EventBridge rejected %d of %d event(s)", len(failed_indexes), len(to_send))
    published: list[str] = []
    now = int(clock())
    for index, candidate in enumerate(to_send):
        if index in failed_indexes:
            failed.append(candidate.sequence_number)
            continue
        published.append(candidate.event_id)
        try:
            ledger.mark_published(candidate.event_id, now=now)
        except Exception:  # the event is out; a missing mark only risks a duplicate on a retry
            logger.exception("could not mark event %s as published", candidate.event_id)
    return RelayReport(tuple(published), tuple(skipped), tuple(failed))
