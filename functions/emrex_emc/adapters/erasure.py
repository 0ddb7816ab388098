"""Erasing one transfer: every version of its S3 objects, its items in one DynamoDB transaction, its objects again.

:meth:`TransferEraser.erase` sweeps ``transfers/{id}/`` (every object version and delete marker: the bucket is
versioned, a plain delete would only hide them), then in ONE transaction replaces the transfer item with a
tombstone (id, the status it had, ``erased_at``; conditional on the status it read, so an outcome stored
meanwhile makes it read and erase again), deletes the outcome's outbox row (an event not yet relayed is then
never published) and strips the audit record of the applicant and the payload hash, then sweeps the prefix
once more. Objects go first: if the transaction then fails, a retry still finds the transfer through the
applicant index.

Why twice: a callback that read the transfer while it was still pending writes its evidence after its
verification (EMREX 1: seconds). The callback may not delete (least privilege: it parses the most hostile
input); its outcome write fails on the tombstone and it answers its refusal. Evidence it wrote before the second
sweep lists the prefix is removed by that sweep. What remains is evidence of a callback that read the transfer
before the tombstone and whose S3 write lands after the second sweep's listing: the erasure's own part of that
window is the milliseconds between its transaction and its second listing, and the callback's part the
milliseconds between its second, consistent read of the transfer right before writing evidence (it writes
nothing once the transfer is erased) and its first S3 write. Such objects are linked to nothing (the tombstone
holds no key) and the bucket's lifecycle rule expires them (``expire-transfers``: current versions after
``retentionDays``, the noncurrent version 30 days later). A stricter operator can add a delayed sweep of the
erased ids (e.g. one callback timeout after each erasure). If the second sweep itself fails (after botocore's
retries), the tombstone is in, the transfer counts as erased and the failure is logged at ERROR with the
transfer id: a retry could not find the transfer again (the applicant index no longer lists a tombstone).

:class:`ErasureLog` keeps the audit record of the erasure itself (ids and counts, no applicant).
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from emrex_emc.adapters.blobs import delete_every_version, transfer_prefix
from emrex_emc.adapters.dynamodb import (
    NETWORK_ERRORS,
    deserialize_item,
    error_code,
    is_transient,
    serialize_item,
    unavailable,
)
from emrex_emc.adapters.outcomes import audit_pk, outbox_pk
from emrex_emc.adapters.sessions import ERASED_AT, session_pk
from emrex_emc.core.audit import ErasureRecord
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.text import clip
from emrex_emc.core.transfer import Tombstone, Transfer, utc_iso

logger = logging.getLogger(__name__)

ATTEMPTS = 4
"""Reads and erasures of one transfer before giving up (each retry follows an outcome stored meanwhile)."""
AUDIT_PERSONAL_ATTRIBUTES = ("applicant_id", "payload_sha256")
"""What an audit record says about the person: the applicant and the hash of their document."""


class TransferEraser:
    def __init__(self, dynamodb_client: Any, s3_client: Any, table_name: str, bucket: str) -> None:
        self._ddb = dynamodb_client
        self._s3 = s3_client
        self._table = table_name
        self._bucket = bucket

    def erase(self, transfer_id: str, *, now: int, keep_until: int) -> bool:
        """Erase the transfer; False when there is none to erase (never existed, or erased already)."""
        try:
            for _ in range(ATTEMPTS):
                item = self._read(transfer_id)
                if item is None or ERASED_AT in item:
                    return False
                transfer = Transfer.from_item(item)
                self._sweep(transfer_id)
                if self._replace_with_tombstone(transfer, now=now, keep_until=keep_until):
                    self._sweep_again(transfer_id)
                    return True
        except NETWORK_ERRORS as exc:
            raise unavailable("transfer table or evidence bucket") from exc
        except ClientError as exc:
            if is_transient(exc) or error_code(exc) in {"SlowDown", "ServiceUnavailable", "InternalError"}:
                raise unavailable("transfer table or evidence bucket") from exc
            raise
        raise EmrexError(ErrorCode.STORAGE_UNAVAILABLE, "the transfer kept changing while it was erased; try again")

    def _sweep(self, transfer_id: str) -> None:
        delete_every_version(self._s3, self._bucket, transfer_prefix(transfer_id))

    def _sweep_again(self, transfer_id: str) -> None:
        """Evidence a callback wrote after the first sweep. The tombstone is in: a failure here is logged, not
        raised, since no retry could find the transfer again."""
        try:
            self._sweep(transfer_id)
        except (ClientError, EmrexError, *NETWORK_ERRORS) as exc:
            logger.error(
                "erased transfer's objects not swept again; the bucket lifecycle expires any left",
                extra={"transfer_id": transfer_id, "error": type(exc).__name__, "detail": clip(exc)},
            )

    def _read(self, transfer_id: str) -> dict[str, Any] | None:
        response = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": session_pk(transfer_id)}}, ConsistentRead=True
        )
        item = response.get("Item")
        return deserialize_item(item) if item else None

    def _replace_with_tombstone(self, transfer: Transfer, *, now: int, keep_until: int) -> bool:
        """True once the tombstone is in; False when the transfer changed since it was read."""
        tombstone = Tombstone(transfer.id, transfer.effective_status(now).value, utc_iso(now))
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize_item(
                        {"pk": session_pk(transfer.id), **tombstone.to_item(), "expires_at": keep_until}
                    ),
                    "ConditionExpression": "#s = :status AND attribute_not_exists(erased_at)",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":status": {"S": transfer.status.value}},
                }
            }
        ]
        if transfer.outcome is not None:  # the outcome's outbox row and audit record exist (same transaction)
            items.append(
                {"Delete": {"TableName": self._table, "Key": {"pk": {"S": outbox_pk(transfer.outcome.event_id)}}}}
            )
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": audit_pk(transfer.id)}},
                        "UpdateExpression": (
                            f"REMOVE {', '.join(AUDIT_PERSONAL_ATTRIBUTES)} SET erased_at = :at, expires_at = :keep"
                        ),
                        "ExpressionAttributeValues": {
                            ":at": {"S": tombstone.erased_at},
                            ":keep": {"N": str(keep_until)},
                        },
                    }
                }
            )
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = [str(r.get("Code")) for r in exc.response.get("CancellationReasons") or []]
            if error_code(exc) == "TransactionCanceledException" and (
                reasons[:1] == ["ConditionalCheckFailed"] or "TransactionConflict" in reasons
            ):
                return False  # a callback stored an outcome (or is storing one) meanwhile: read again
            raise
        return True


class ErasureLog:
    def __init__(self, dynamodb_client: Any, table_name: str, *, retention_days: int) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._retention_seconds = retention_days * 86400

    def record(self, erasure: ErasureRecord) -> None:
        item = {
            **erasure.to_item(),
            "pk": f"ERASURE#{erasure.erasure_id}",
            "expires_at": erasure.at + self._retention_seconds,
        }
        self._ddb.put_item(TableName=self._table, Item=serialize_item(item))
