"""Outbox rows queued outside an outcome transaction: the registry refresh's events.

They live under their own key prefix, ``OUTBOX#REGISTRY#{event_id}``: the registry refresh may write only
there (IAM ``dynamodb:LeadingKeys``), and the relay publishes a row under that prefix only when it carries
a registry detail-type, so the function that parses the registry can never put a transfer event on the bus.
Each row is written once (``attribute_not_exists``): an event id already queued (a retried refresh, an
expiring certificate already announced today) is not queued again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from emrex_emc.adapters.dynamodb import error_code, is_transient, serialize_item, unavailable
from emrex_emc.adapters.events import entry_for
from emrex_emc.adapters.outcomes import OUTBOX_TTL_SECONDS, outbox_pk
from emrex_emc.core.events import Event

REGISTRY_OUTBOX_PREFIX = "OUTBOX#REGISTRY#"


def registry_outbox_pk(event_id: str) -> str:
    return outbox_pk(f"REGISTRY#{event_id}")


class RegistryOutbox:
    def __init__(self, dynamodb_client: Any, table_name: str, *, event_bus_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._bus = event_bus_name

    def add(self, events: Sequence[Event], *, now: int) -> int:
        queued = 0
        for event in events:
            item = {
                "pk": registry_outbox_pk(event.event_id),
                "kind": "outbox",
                "event_id": event.event_id,
                "entry": entry_for(event, self._bus),
                "created_at": now,
                "expires_at": now + OUTBOX_TTL_SECONDS,
            }
            try:
                self._ddb.put_item(
                    TableName=self._table, Item=serialize_item(item), ConditionExpression="attribute_not_exists(pk)"
                )
            except Exception as exc:
                if isinstance(exc, ClientError) and error_code(exc) == "ConditionalCheckFailedException":
                    continue
                if is_transient(exc):
                    raise unavailable("transfer table") from exc
                raise
            queued += 1
        return queued
