"""DynamoDB: transfers (``pk = "SESSION#{id}"``): create, read, choose the EMP once, find an applicant's.

See docs/ARCHITECTURE.md for the item layout; the item is :meth:`Transfer.to_item` plus ``pk``. An erased
transfer's item is a tombstone (:class:`~emrex_emc.core.transfer.Tombstone`, marked by ``erased_at``):
reading it gives None, as for a transfer that never existed. The applicant index (:data:`APPLICANT_INDEX`,
key ``applicant_id`` + ``deadline``) holds every transfer item with an applicant (so no tombstone) and
projects what a listing shows.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from emrex_emc.adapters.dynamodb import deserialize_item, serialize_item, unavailable_when_transient
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import ProtocolVersion, Status
from emrex_emc.core.registry import Emp
from emrex_emc.core.transfer import EmpRef, Tombstone, Transfer, TransferListing

if TYPE_CHECKING:
    from emrex_emc.core.provenance import Coverage

SESSION_PREFIX = "SESSION#"
ERASED_AT = "erased_at"
"""The attribute that marks a tombstone."""
APPLICANT_INDEX = "applicant"
APPLICANT_INDEX_KEYS = ("applicant_id", "deadline")
APPLICANT_INDEX_ATTRIBUTES = ("id", "status", "emp", "created_at")
"""Projected into the index besides its keys: what a listing shows, nothing personal but the key itself."""
MAX_LISTED = 1000
"""Transfers listed or erased per applicant at most (an applicant has a handful)."""


def session_pk(transfer_id: str) -> str:
    return f"{SESSION_PREFIX}{transfer_id}"


def transfer_to_item(transfer: Transfer) -> dict[str, Any]:
    """A transfer as a low-level DynamoDB item."""
    return serialize_item({"pk": session_pk(transfer.id), **transfer.to_item()})


def item_to_transfer(item: dict[str, Any]) -> Transfer:
    return Transfer.from_item(deserialize_item(item))


class TransferTable:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._client = dynamodb_client
        self._table = table_name

    def create(self, transfer: Transfer) -> None:
        """Store a new transfer; an existing id is never overwritten."""
        with unavailable_when_transient("transfer table"):
            self._client.put_item(
                TableName=self._table,
                Item=transfer_to_item(transfer),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def get(self, transfer_id: str) -> Transfer | None:
        """The transfer, or None when there is none (or it was erased)."""
        found = self.find(transfer_id)
        return found if isinstance(found, Transfer) else None

    def find(self, transfer_id: str) -> Transfer | Tombstone | None:
        with unavailable_when_transient("transfer table"):
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": session_pk(transfer_id)}},
                ConsistentRead=True,
            )
        item = response.get("Item")
        if not item:
            return None
        if ERASED_AT in item:
            return Tombstone.from_item(deserialize_item(item))
        return item_to_transfer(item)

    def of_applicant(self, applicant_id: str) -> list[TransferListing]:
        """The applicant's transfers from the index (eventually consistent: one created a moment ago may be
        missing), newest first."""
        listings: list[TransferListing] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": APPLICANT_INDEX,
            "KeyConditionExpression": "applicant_id = :applicant",
            "ExpressionAttributeValues": {":applicant": {"S": applicant_id}},
            "ScanIndexForward": False,
        }
        while len(listings) < MAX_LISTED:
            with unavailable_when_transient("transfer table"):
                response = self._client.query(**request)
            for item in response.get("Items", []):
                if str(item.get("pk", {}).get("S", "")).startswith(SESSION_PREFIX):
                    listings.append(_listing(deserialize_item(item)))
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return listings[:MAX_LISTED]

    def choose_emp(
        self,
        transfer_id: str,
        *,
        emp: Emp,
        session_id: str,
        now: int,
        coverage: Coverage | None = None,
        code_verifier: str | None = None,
    ) -> Transfer:
        """Consume the start link: record the EMP, pin its certificates (and its ``coverage``, what provenance
        judges its results' issuers by) and set the EMREX ``sessionId``.

        For an EMREX 2.0 EMP also its protocol, endpoints and public key (pinned like the certificates) and
        the PKCE ``code_verifier``. Succeeds only once, while the transfer is pending and before its
        deadline. Otherwise raises ``EmrexError`` with ``SESSION_NOT_FOUND``, ``SESSION_EXPIRED`` or
        ``SESSION_ALREADY_COMPLETED``.
        """
        certs = [base64.b64encode(der).decode("ascii") for der in emp.certificates]
        fingerprints = [hashlib.sha256(der).hexdigest() for der in emp.certificates]
        assignments = ["start_used = :true", "emrex_session_id = :sid", "emp = :emp"]
        assignments += ["pinned_certs = :certs", "cert_fingerprints = :fps"]
        values: dict[str, Any] = {
            ":true": True,
            ":false": False,
            ":pending": Status.PENDING.value,
            ":now": now,
            ":sid": session_id,
            ":emp": EmpRef.of(emp).to_json(),
            ":certs": certs,
            ":fps": fingerprints,
        }
        if emp.protocol is not ProtocolVersion.EMREX_1 and emp.emrex2 is not None and code_verifier:
            assignments += ["protocol = :protocol", "emp_endpoints = :endpoints", "emp_public_key = :key"]
            assignments += ["code_verifier = :verifier"]
            values.update(
                {
                    ":protocol": emp.protocol.value,
                    ":endpoints": emp.emrex2.to_json(),
                    ":key": base64.b64encode(emp.public_key).decode("ascii"),
                    ":verifier": code_verifier,
                }
            )
        if coverage is not None:
            assignments.append("pinned_coverage = :coverage")
            values[":coverage"] = coverage.to_json()
        condition_failed = self._client.exceptions.ConditionalCheckFailedException
        try:
            with unavailable_when_transient("transfer table"):
                response = self._client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": session_pk(transfer_id)}},
                    UpdateExpression="SET " + ", ".join(assignments),
                    ConditionExpression=(
                        "attribute_exists(pk) AND #status = :pending AND start_used = :false AND deadline > :now"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=serialize_item(values),
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except condition_failed as exc:
            old = exc.response.get("Item")
            current = item_to_transfer(old) if old and ERASED_AT not in old else self.get(transfer_id)
            raise _refusal(current) from exc
        return item_to_transfer(response["Attributes"])

    def redeem_code(self, transfer_id: str, *, code_sha256: str, now: int) -> bool:
        """Record that the transfer's authorization code is being redeemed: True once, False ever after.

        Conditional on the transfer being pending, before its deadline and without a redeemed code, so a
        replayed or concurrent redirect never reaches the EMP's token endpoint a second time.
        """
        try:
            with unavailable_when_transient("transfer table"):
                self._client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": session_pk(transfer_id)}},
                    UpdateExpression="SET code_sha256 = :code",
                    ConditionExpression=(
                        "attribute_exists(pk) AND #status = :pending AND deadline > :now"
                        " AND attribute_not_exists(code_sha256)"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=serialize_item(
                        {":code": code_sha256, ":pending": Status.PENDING.value, ":now": now}
                    ),
                )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _listing(item: dict[str, Any]) -> TransferListing:
    emp = item.get("emp")
    return TransferListing(
        id=str(item["id"]),
        status=Status(str(item["status"])),
        created_at=str(item.get("created_at", "")),
        deadline=int(item["deadline"]),
        emp=EmpRef.from_json(emp) if isinstance(emp, dict) else None,
    )


def _refusal(current: Transfer | None) -> EmrexError:
    if current is None:
        return EmrexError(ErrorCode.SESSION_NOT_FOUND, "this transfer does not exist")
    if current.start_used or current.status is not Status.PENDING:
        return EmrexError(ErrorCode.START_LINK_USED, "this start link has already been used")
    return EmrexError(ErrorCode.SESSION_EXPIRED, "this start link has expired")
