"""DynamoDB stream records -> the events the relay publishes (the stream's wire format stays here).

The table's stream carries every change (transfers, audit records, the registry snapshot). Two kinds of
records are events:

- INSERTs of ``OUTBOX#`` items: the outbox rows. A row under ``OUTBOX#REGISTRY#`` (written by the registry
  refresh) is published only when it carries a registry detail-type: that function may write nowhere else
  and can never put a transfer event on the bus.
- REMOVEs of ``SESSION#`` items by DynamoDB's TTL (``userIdentity.principalId`` ``dynamodb.amazonaws.com``)
  whose old image is still ``pending`` and not an erasure tombstone: a transfer that ended without an
  answer from the EMP, announced as ``EMREX Transfer Expired``.

The event source mapping already filters for both; this decoder ignores anything else that gets through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from emrex_emc.adapters.dynamodb import deserialize, deserialize_item
from emrex_emc.adapters.events import ENTRY_FIELDS, entry_for
from emrex_emc.adapters.outbox import REGISTRY_OUTBOX_PREFIX
from emrex_emc.adapters.sessions import ERASED_AT, SESSION_PREFIX
from emrex_emc.core.errors import EmrexError
from emrex_emc.core.events import OPERATIONS_DETAIL_TYPES, SOURCE, OutboxBatch, OutboxRecord, TransferExpiredEvent
from emrex_emc.core.protocol import Status
from emrex_emc.core.transfer import Transfer

OUTBOX_PREFIX = "OUTBOX#"
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
_REGISTRY_DETAIL_TYPES = frozenset(detail_type.value for detail_type in OPERATIONS_DETAIL_TYPES)


def decode_batch(records: Sequence[Mapping[str, Any]], *, event_bus_name: str) -> OutboxBatch:
    decoded: list[OutboxRecord] = []
    malformed: list[str] = []
    for record in records:
        data = record.get("dynamodb") or {}
        image = data.get("NewImage") or {}
        pk = str((image.get("pk") or (data.get("Keys") or {}).get("pk") or {}).get("S", ""))
        sequence = str(data.get("SequenceNumber") or "")
        if record.get("eventName") == "INSERT" and pk.startswith(OUTBOX_PREFIX):
            event = _outbox_record(sequence, pk, image)
        elif is_ttl_expiry(record) and pk.startswith(SESSION_PREFIX):
            old = data.get("OldImage") or {}
            if _status(old) != Status.PENDING.value or ERASED_AT in old:  # decided, or an erasure tombstone
                continue
            event = _expiry_record(sequence, old, event_bus_name)
        else:
            continue
        if event is None:
            malformed.append(sequence)
        else:
            decoded.append(event)
    return OutboxBatch(tuple(decoded), tuple(malformed))


def is_ttl_expiry(record: Mapping[str, Any]) -> bool:
    identity = record.get("userIdentity") or {}
    return (
        record.get("eventName") == "REMOVE"
        and identity.get("type") == "Service"
        and identity.get("principalId") == TTL_PRINCIPAL
    )


def _status(image: Mapping[str, Any]) -> str:
    value = image.get("status") or {}
    return str(value.get("S", "")) if isinstance(value, Mapping) else ""


def _outbox_record(sequence: str, pk: str, image: Mapping[str, Any]) -> OutboxRecord | None:
    try:
        entry = deserialize(image["entry"])
        event_id = deserialize(image["event_id"])
    except (KeyError, TypeError, AttributeError):
        return None
    if not isinstance(entry, dict) or not isinstance(event_id, str):
        return None
    if any(not isinstance(entry.get(name), str) for name in ENTRY_FIELDS):
        return None
    if pk.startswith(REGISTRY_OUTBOX_PREFIX) and (
        entry["DetailType"] not in _REGISTRY_DETAIL_TYPES or entry["Source"] != SOURCE
    ):
        return None
    return OutboxRecord(sequence, event_id, {name: str(entry[name]) for name in ENTRY_FIELDS}, key=pk)


def _expiry_record(sequence: str, old_image: Mapping[str, Any], bus: str) -> OutboxRecord | None:
    try:
        event = TransferExpiredEvent(Transfer.from_item(deserialize_item(dict(old_image))))
        return OutboxRecord(sequence, event.event_id, entry_for(event, bus))
    except (KeyError, TypeError, ValueError, AttributeError, EmrexError):
        return None
