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
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from emrex_emc.adapters.dynamodb import NETWORK_ERRORS, error_code, is_transient, serialize_item, unavailable
from emrex_emc.adapters.events import entry_for
from emrex_emc.adapters.sessions import session_pk
from emrex_emc.core.audit import AuditRecord
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.events import Event
from emrex_emc.core.outcome import Outcome
from emrex_emc.core.transfer import Transfer

OUTBOX_TTL_SECONDS = 14 * 86400
"""Outbox rows are only needed until relayed (stream records live 24 h); kept two weeks for forensics."""
_JITTER = random.SystemRandom()
"""Retry jitter from the OS: no seeded state that SnapStart-restored environments would share."""
_CONFLICT_RETRIES = 4


def outbox_pk(event_id: str) -> str:
    return f"OUTBOX#{event_id}"


def audit_pk(transfer_id: str) -> str:
    return f"AUDIT#{transfer_id}"


class OutcomeStore:
    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        *,
        event_bus_name: str,
        retention_days: int,
        outbox_ttl_seconds: int = OUTBOX_TTL_SECONDS,
    ) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._bus = event_bus_name
        self._retention_seconds = retention_days * 86400
        self._outbox_ttl_seconds = outbox_ttl_seconds

    def record(self, transfer: Transfer, outcome: Outcome, *, event: Event, audit: AuditRecord, now: int) -> bool:
        """Store the outcome, its outbox event and its audit record in one transaction, once.

        True when this call moved the transfer out of ``pending``; False when it was already decided.

        Raises ``EmrexError`` ``OUTCOME_TOO_LARGE`` when DynamoDB refuses the items for their size and
        ``STORAGE_UNAVAILABLE`` on throttling or timeouts (nothing was written; after a timeout the transaction
        may have committed, and the conditional retry then finds the transfer decided).
        """
        items = self._transact_items(transfer, outcome, event, audit, now)
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                self._ddb.transact_write_items(TransactItems=items)
                return True
            except ClientError as exc:
                reasons = _cancellation_codes(exc)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False
                if "TransactionConflict" in reasons and attempt < _CONFLICT_RETRIES:
                    time.sleep(_JITTER.uniform(0.01, 0.05) * (attempt + 1))
                    continue
                if _too_large(exc, reasons):
                    raise EmrexError(
                        ErrorCode.OUTCOME_TOO_LARGE, "the outcome is too large to be stored with the transfer"
                    ) from exc
                if is_transient(exc) or "ThrottlingError" in reasons or "TransactionConflict" in reasons:
                    raise unavailable("transfer table") from exc
                raise
            except NETWORK_ERRORS as exc:
                raise unavailable("transfer table") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _transact_items(
        self, transfer: Transfer, outcome: Outcome, event: Event, audit: AuditRecord, now: int
    ) -> list[dict[str, Any]]:
        retained_until = now + self._retention_seconds
        outbox = {
            "pk": outbox_pk(event.event_id),
            "kind": "outbox",
            "event_id": event.event_id,
            "transfer_id": transfer.id,
            "entry": entry_for(event, self._bus),
            "created_at": now,
            "expires_at": now + self._outbox_ttl_seconds,
        }
        audit_item = {
            **audit.to_item(),
            "pk": audit_pk(transfer.id),
            "kind": "audit",
            "transfer_id": transfer.id,
            "status": outcome.status.value,
            "event_id": event.event_id,
            "recorded_at": now,
            "expires_at": retained_until,
        }
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": session_pk(transfer.id)}},
                    "UpdateExpression": "SET #s = :status, outcome = :outcome, expires_at = :expires",
                    "ConditionExpression": "#s = :pending AND emrex_session_id = :sid",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": serialize_item(
                        {
                            ":status": outcome.status.value,
                            ":outcome": outcome.to_item(),
                            ":expires": retained_until,
                            ":pending": "pending",
                            ":sid": transfer.emrex_session_id,
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
                    "Item": serialize_item(audit_item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]


def _cancellation_codes(exc: ClientError) -> list[str]:
    if error_code(exc) != "TransactionCanceledException":
        return []
    reasons = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code") or "None") for reason in reasons]


def _too_large(exc: ClientError, reasons: Sequence[str]) -> bool:
    """DynamoDB refuses an item over 400 KB (or a transaction over 4 MB) with a ValidationException
    naming the size, or cancels the transaction with a ValidationError reason."""
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return "ValidationError" in reasons or (error_code(exc) == "ValidationException" and "size" in message)


class OutboxLedger:
    """Marks relayed outbox rows, so a retried stream batch does not publish an event twice.

    Only the relay writes here (``published_at`` on ``OUTBOX#`` items, a MODIFY the relay ignores).
    A crash between PutEvents and the mark can still duplicate: delivery stays at least once. Rows are
    named by their key (``pk``): outcome rows ``OUTBOX#{event_id}``, registry rows ``OUTBOX#REGISTRY#{event_id}``.
    """

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def settled(self, keys: Sequence[str]) -> set[str]:
        """The subset of the outbox rows ``keys`` not to publish: relayed already, or gone (an erasure
        deleted it: its events must not reach the bus, even from a retried stream batch)."""
        unique = list(dict.fromkeys(keys))
        found: set[str] = set()
        done: set[str] = set()
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"pk": {"S": key}} for key in unique[start : start + 100]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "pk, published_at",
                }
            }
            while request:
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found.add(item["pk"]["S"])
                    if "published_at" in item:
                        done.add(item["pk"]["S"])
                request = response.get("UnprocessedKeys") or {}
        return done | (set(unique) - found)

    def mark_published(self, key: str, *, now: int) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": key}},
            UpdateExpression="SET published_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )
