"""Record a transfer's outcome exactly once: outcome, outbox entry and audit record in ONE transaction.

The session moves from ``pending`` to its outcome with a conditional update (``status = pending AND
emrex_session_id = :sid``). In the same ``TransactWriteItems`` the EventBridge entry is written as an
``OUTBOX#{event_id}`` item (relayed from the DynamoDB stream by the outbox relay) and an
``AUDIT#{transfer_id}`` item. Either all three are written or none is, so an event can neither be lost
(EventBridge down, Lambda killed) nor published for an outcome that was not stored.

Items stay small: the ELMO itself lives in S3, the outcome only holds summaries and S3 keys.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from emrex_emc.adapters.sessions import deserialize_item, serialize_item, session_pk

OUTBOX_TTL_SECONDS = 14 * 86400
_JITTER = random.SystemRandom()
"""Retry jitter from the OS: no seeded state that SnapStart-restored environments would share."""
"""Outbox rows are only needed until relayed (stream records live 24 h); kept two weeks for forensics."""
_CONFLICT_RETRIES = 4


def outbox_pk(event_id: str) -> str:
    return f"OUTBOX#{event_id}"


def audit_pk(transfer_id: str) -> str:
    return f"AUDIT#{transfer_id}"


@dataclass(frozen=True)
class OutcomeWrite:
    """Everything written when a pending session gets its outcome."""

    transfer_id: str
    emrex_session_id: str
    status: str
    outcome: Mapping[str, Any]
    """The ``outcome`` map of the session item (no ELMO content, only summaries and S3 keys)."""
    event_id: str
    entry: Mapping[str, str]
    """The PutEvents entry ``{Source, DetailType, Detail, EventBusName}`` the relay will publish."""
    audit: Mapping[str, Any]


@dataclass(frozen=True)
class RecordResult:
    recorded: bool
    """True when this call moved the session out of ``pending``; False when it was already decided."""
    status: str | None
    outcome: dict[str, Any] | None
    emrex_session_id: str | None = None


class OutcomeStore:
    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        *,
        retention_days: int,
        outbox_ttl_seconds: int = OUTBOX_TTL_SECONDS,
    ) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._retention_seconds = retention_days * 86400
        self._outbox_ttl_seconds = outbox_ttl_seconds

    def record(self, write: OutcomeWrite, *, now: int) -> RecordResult:
        """Store the outcome once; if the session is not pending any more, report what is stored."""
        items = self._transact_items(write, now)
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                self._ddb.transact_write_items(TransactItems=items)
                return RecordResult(True, write.status, dict(write.outcome), write.emrex_session_id)
            except ClientError as exc:
                codes = _cancellation_codes(exc)
                if codes and codes[0] == "ConditionalCheckFailed":
                    return self.read_decision(write.transfer_id)
                if "TransactionConflict" in codes and attempt < _CONFLICT_RETRIES:
                    time.sleep(_JITTER.uniform(0.01, 0.05) * (attempt + 1))
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def read_decision(self, transfer_id: str) -> RecordResult:
        response = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": session_pk(transfer_id)}},
            ConsistentRead=True,
            ProjectionExpression="#s, outcome, emrex_session_id",
            ExpressionAttributeNames={"#s": "status"},
        )
        item = deserialize_item(response.get("Item") or {})
        outcome = item.get("outcome")
        return RecordResult(
            recorded=False,
            status=item.get("status"),
            outcome=outcome if isinstance(outcome, dict) else None,
            emrex_session_id=item.get("emrex_session_id"),
        )

    def _transact_items(self, write: OutcomeWrite, now: int) -> list[dict[str, Any]]:
        retained_until = now + self._retention_seconds
        outbox = {
            "pk": outbox_pk(write.event_id),
            "kind": "outbox",
            "event_id": write.event_id,
            "transfer_id": write.transfer_id,
            "entry": dict(write.entry),
            "created_at": now,
            "expires_at": now + self._outbox_ttl_seconds,
        }
        audit = {
            **write.audit,
            "pk": audit_pk(write.transfer_id),
            "kind": "audit",
            "transfer_id": write.transfer_id,
            "status": write.status,
            "event_id": write.event_id,
            "recorded_at": now,
            "expires_at": retained_until,
        }
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": session_pk(write.transfer_id)}},
                    "UpdateExpression": "SET #s = :status, outcome = :outcome, expires_at = :expires",
                    "ConditionExpression": "#s = :pending AND emrex_session_id = :sid",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": serialize_item(
                        {
                            ":status": write.status,
                            ":outcome": dict(write.outcome),
                            ":expires": retained_until,
                            ":pending": "pending",
                            ":sid": write.emrex_session_id,
                        }
                    ),
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize_item(outbox),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize_item(audit),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]


def _cancellation_codes(exc: ClientError) -> list[str]:
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    reasons = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code") or "None") for reason in reasons]


class OutboxLedger:
    """Marks relayed outbox rows, so a retried stream batch does not publish an event twice.

    Only the relay writes here (``published_at`` on ``OUTBOX#`` items, a MODIFY the relay ignores).
    A crash between PutEvents and the mark can still duplicate: delivery stays at least once.
    """

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def published(self, event_ids: Sequence[str]) -> set[str]:
        """The subset of ``event_ids`` already relayed."""
        done: set[str] = set()
        unique = list(dict.fromkeys(event_ids))
        for start in range(0, len(unique), 100):
            keys: list[dict[str, Any]] = [{"pk": {"S": outbox_pk(e)}} for e in unique[start : start + 100]]
            request: dict[str, Any] = {
                self._table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "event_id, published_at"}
            }
            while request:
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    if "published_at" in item:
                        done.add(item["event_id"]["S"])
                request = response.get("UnprocessedKeys") or {}
        return done

    def mark_published(self, event_id: str, *, now: int) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": outbox_pk(event_id)}},
            UpdateExpression="SET published_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )
