"""DynamoDB stream records -> outbox rows for the relay (the stream's wire format stays here).

The table's stream carries every change (transfers, audit records, the registry snapshot); only
INSERTs of ``OUTBOX#`` items are outbox rows. The event source mapping already filters for them; this
decoder ignores anything else that gets through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from emrex_emc.adapters.dynamodb import deserialize
from emrex_emc.adapters.events import ENTRY_FIELDS
from emrex_emc.core.events import OutboxBatch, OutboxRecord

OUTBOX_PREFIX = "OUTBOX#"


def decode_batch(records: Sequence[Mapping[str, Any]]) -> OutboxBatch:
    decoded: list[OutboxRecord] = []
    malformed: list[str] = []
    for record in records:
        data = record.get("dynamodb") or {}
        image = data.get("NewImage") or {}
        pk = (image.get("pk") or (data.get("Keys") or {}).get("pk") or {}).get("S", "")
        if record.get("eventName") != "INSERT" or not str(pk).startswith(OUTBOX_PREFIX):
            continue
        sequence = str(data.get("SequenceNumber") or "")
        outbox = _outbox_record(sequence, image)
        if outbox is None:
            malformed.append(sequence)
        else:
            decoded.append(outbox)
    return OutboxBatch(tuple(decoded), tuple(malformed))


def _outbox_record(sequence: str, image: Mapping[str, Any]) -> OutboxRecord | None:
    try:
        entry = deserialize(image["entry"])
        event_id = deserialize(image["event_id"])
    except (KeyError, TypeError, AttributeError):
        return None
    if not isinstance(entry, dict) or not isinstance(event_id, str):
        return None
    if any(not isinstance(entry.get(name), str) for name in ENTRY_FIELDS):
        return None
    return OutboxRecord(sequence, event_id, {name: str(entry[name]) for name in ENTRY_FIELDS})
