"""DynamoDB wire format <-> plain Python values, and the error classes every table adapter maps.

Items are plain JSON-like values in core (``Transfer.to_item``, ``Outcome.to_item``); only adapters see
DynamoDB's typed attribute values. Numbers come back as ``int`` (or ``float`` when not integral), never
``Decimal``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from emrex_emc.core.errors import EmrexError, ErrorCode

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)
"""Errors after which nothing was written and the same request may succeed later."""
NETWORK_ERRORS = (HTTPClientError, BotoConnectionError)
"""Timeouts and connection failures (botocore's own retries already ran)."""


def to_plain(value: Any) -> Any:
    """Deserialized values -> plain JSON-like Python (``Decimal`` -> ``int``/``float``, sets -> sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, set):
        return [to_plain(v) for v in sorted(value)]
    return value


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def serialize(value: Any) -> dict[str, Any]:
    """One attribute value in low-level client form, e.g. ``{"S": "x"}``."""
    result: dict[str, Any] = dict(_serializer.serialize(_to_dynamo(value)))
    return result


def serialize_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: serialize(value) for key, value in item.items()}


def deserialize_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: to_plain(_deserializer.deserialize(value)) for key, value in item.items()}


def deserialize(value: Any) -> Any:
    return to_plain(_deserializer.deserialize(value))


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_transient(exc: Exception) -> bool:
    """Throttling, a server-side hiccup or a network timeout (botocore's own retries already ran)."""
    if isinstance(exc, ClientError):
        return error_code(exc) in TRANSIENT_ERROR_CODES
    return isinstance(exc, NETWORK_ERRORS)


def unavailable(what: str) -> EmrexError:
    return EmrexError(
        ErrorCode.STORAGE_UNAVAILABLE, f"the {what} could not be reached (throttled or timed out); try again"
    )


@contextmanager
def unavailable_when_transient(what: str) -> Iterator[None]:
    """Throttling, a server hiccup or a timeout become ``STORAGE_UNAVAILABLE`` (a 503 the EMP's retry or the
    student's reload can complete: the conditional writes make a retry safe even when a timed-out write did
    land); any other failure passes through."""
    try:
        yield
    except (ClientError, *NETWORK_ERRORS) as exc:
        if is_transient(exc):
            raise unavailable(what) from exc
        raise
