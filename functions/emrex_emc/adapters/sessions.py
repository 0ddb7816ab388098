"""DynamoDB: transfers (``pk = "SESSION#{id}"``): create, read, and choose the EMP once.

Uses the low-level client with plain type (de)serialization; numbers come back as ``int`` (or ``float``
for non-integral values) rather than ``Decimal``. See docs/ARCHITECTURE.md for the item layout.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import Status
from emrex_emc.core.registry import Emp

SESSION_PREFIX = "SESSION#"
PENDING_TTL_GRACE_SECONDS = 86400
"""While pending, the item lives ``deadline + 1 day`` so a late callback still finds it (as expired)."""

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def session_pk(transfer_id: str) -> str:
    return f"{SESSION_PREFIX}{transfer_id}"


@dataclass
class Transfer:
    id: str
    applicant_id: str
    given_names: str
    family_name: str
    birth_date: str
    """ISO ``YYYY-MM-DD``."""
    return_url: str
    locale: str
    status: Status
    created_at: str
    """ISO-8601 UTC."""
    deadline: int
    """Epoch seconds by which the transfer must complete."""
    expires_at: int
    """DynamoDB TTL (epoch seconds)."""
    start_used: bool = False
    emrex_session_id: str | None = None
    emp: dict[str, Any] | None = None
    """``{id, name, country, url}`` of the chosen EMP."""
    pinned_certs: list[bytes] = field(default_factory=list)
    """DER certificates of the EMP when it was chosen."""
    cert_fingerprints: list[str] = field(default_factory=list)
    outcome: dict[str, Any] | None = None

    def effective_status(self, now: int) -> Status:
        """The stored status, except that a pending transfer past its deadline is ``EXPIRED``."""
        if self.status is Status.PENDING and now >= self.deadline:
            return Status.EXPIRED
        return self.status

    def __repr__(self) -> str:  # keep personal data out of logs and tracebacks
        return f"Transfer(id={self.id!r}, status={self.status.value!r}, start_used={self.start_used!r})"


def to_plain(value: Any) -> Any:
    """Deserialized DynamoDB values -> plain JSON-like Python (``Decimal`` -> ``int``/``float``)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, set):
        return [to_plain(v) for v in sorted(value)]
    return value


def to_dynamo(value: Any) -> Any:
    """Plain Python -> values :class:`TypeSerializer` accepts (``float`` -> ``Decimal``)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {str(k): to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def serialize(value: Any) -> dict[str, Any]:
    """One attribute value in low-level client form, e.g. ``{"S": "x"}``."""
    result: dict[str, Any] = dict(_serializer.serialize(to_dynamo(value)))
    return result


def serialize_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: serialize(value) for key, value in item.items()}


def deserialize_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: to_plain(_deserializer.deserialize(value)) for key, value in item.items()}


def transfer_to_item(transfer: Transfer) -> dict[str, Any]:
    """A :class:`Transfer` as a low-level DynamoDB item (``None`` attributes are left out)."""
    plain: dict[str, Any] = {
        "pk": session_pk(transfer.id),
        "id": transfer.id,
        "applicant_id": transfer.applicant_id,
        "given_names": transfer.given_names,
        "family_name": transfer.family_name,
        "birth_date": transfer.birth_date,
        "return_url": transfer.return_url,
        "locale": transfer.locale,
        "status": transfer.status.value,
        "created_at": transfer.created_at,
        "deadline": transfer.deadline,
        "expires_at": transfer.expires_at,
        "start_used": transfer.start_used,
        "pinned_certs": [base64.b64encode(der).decode("ascii") for der in transfer.pinned_certs],
        "cert_fingerprints": list(transfer.cert_fingerprints),
    }
    for name in ("emrex_session_id", "emp", "outcome"):
        value = getattr(transfer, name)
        if value is not None:
            plain[name] = value
    return serialize_item(plain)


def item_to_transfer(item: dict[str, Any]) -> Transfer:
    """A low-level DynamoDB item (as returned by the client) back to a :class:`Transfer`."""
    data = deserialize_item(item)
    return Transfer(
        id=str(data["id"]),
        applicant_id=str(data["applicant_id"]),
        given_names=str(data["given_names"]),
        family_name=str(data["family_name"]),
        birth_date=str(data["birth_date"]),
        return_url=str(data["return_url"]),
        locale=str(data.get("locale", "")),
        status=Status(data["status"]),
        created_at=str(data["created_at"]),
        deadline=int(data["deadline"]),
        expires_at=int(data["expires_at"]),
        start_used=bool(data.get("start_used", False)),
        emrex_session_id=data.get("emrex_session_id"),
        emp=data.get("emp"),
        pinned_certs=[base64.b64decode(c) for c in data.get("pinned_certs", [])],
        cert_fingerprints=[str(f) for f in data.get("cert_fingerprints", [])],
        outcome=data.get("outcome"),
    )


def emp_summary(emp: Emp) -> dict[str, str]:
    """What a transfer remembers about its EMP."""
    return {"id": emp.id, "name": emp.name, "country": emp.country, "url": emp.url}


class SessionRepository:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._client = dynamodb_client
        self._table = table_name

    def create(self, transfer: Transfer) -> None:
        """Store a new transfer; an existing id is never overwritten."""
        self._client.put_item(
            TableName=self._table,
            Item=transfer_to_item(transfer),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, transfer_id: str) -> Transfer | None:
        response = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": session_pk(transfer_id)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return item_to_transfer(item) if item else None

    def choose_emp(self, transfer_id: str, *, emp: Emp, session_id: str, now: int) -> Transfer:
        """Consume the start link: record the EMP, pin its certificates and set the EMREX ``sessionId``.

        Succeeds only once, while the transfer is pending and before its deadline. Otherwise raises
        ``EmrexError`` with ``SESSION_NOT_FOUND``, ``SESSION_EXPIRED`` or ``SESSION_ALREADY_COMPLETED``.
        """
        certs = [base64.b64encode(der).decode("ascii") for der in emp.certificates]
        fingerprints = [hashlib.sha256(der).hexdigest() for der in emp.certificates]
        client_error = self._client.exceptions.ConditionalCheckFailedException
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": session_pk(transfer_id)}},
                UpdateExpression=(
                    "SET start_used = :true, emrex_session_id = :sid, emp = :emp, "
                    "pinned_certs = :certs, cert_fingerprints = :fps"
                ),
                ConditionExpression=(
                    "attribute_exists(pk) AND #status = :pending AND start_used = :false AND deadline > :now"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize_item(
                    {
                        ":true": True,
                        ":false": False,
                        ":pending": Status.PENDING.value,
                        ":now": now,
                        ":sid": session_id,
                        ":emp": emp_summary(emp),
                        ":certs": certs,
                        ":fps": fingerprints,
                    }
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client_error as exc:
            old = exc.response.get("Item")
            current = item_to_transfer(old) if old else self.get(transfer_id)
            raise _refusal(current) from exc
        return item_to_transfer(response["Attributes"])


def _refusal(current: Transfer | None) -> EmrexError:
    if current is None:
        return EmrexError(ErrorCode.SESSION_NOT_FOUND, "this transfer does not exist")
    if current.start_used or current.status is not Status.PENDING:
        return EmrexError(ErrorCode.SESSION_ALREADY_COMPLETED, "this start link has already been used")
    return EmrexError(ErrorCode.SESSION_EXPIRED, "this start link has expired")
