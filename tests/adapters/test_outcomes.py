"""Outcome + outbox + audit in one DynamoDB transaction (moto): exactly once, all or nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from emrex_emc.adapters.dynamodb import deserialize_item
from emrex_emc.adapters.outcomes import OutboxLedger, OutcomeStore
from emrex_emc.adapters.sessions import transfer_to_item
from emrex_emc.core.audit import AuditRecord
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.events import OutcomeEvent
from emrex_emc.core.outcome import Outcome, ResultSummary
from emrex_emc.core.protocol import Status
from emrex_emc.core.transfer import EmpRef, EnrolmentRequest, Transfer
from tests.adapters.conftest import ADAPTER_TABLE

TABLE = ADAPTER_TABLE
TRANSFER = "0123456789abcdef0123456789abcdef"
SID = "A" * 32
NOW = 1_800_000_000
PENDING = Transfer.new(
    EnrolmentRequest("A-1", "Kari", "Nordmann", "1998-04-03", "https://uni.example/back", "en"),
    transfer_id=TRANSFER,
    created_at="2027-01-15T08:00:00Z",
    deadline=NOW + 600,
)
CHOSEN = replace(
    PENDING,
    start_used=True,
    emrex_session_id=SID,
    emp=EmpRef("no-123", "Norwegian EMP", "NO", "https://emp.example.no"),
)


@pytest.fixture
def ddb(dynamodb: Any) -> Any:
    """The adapters' moto table holding one pending transfer (its EMP chosen)."""
    dynamodb.put_item(TableName=TABLE, Item=transfer_to_item(CHOSEN))
    return dynamodb


def _outcome(event_id: str = "e-1", status: Status = Status.NO_RESULTS, **changes: Any) -> Outcome:
    return replace(Outcome(status, "2027-01-15T08:05:00Z", "NCP_NO_RESULTS", "0" * 64, event_id), **changes)


def _record(store: OutcomeStore, outcome: Outcome, transfer: Transfer = CHOSEN, now: int = NOW) -> bool:
    return store.record(
        transfer, outcome, event=OutcomeEvent(transfer, outcome), audit=AuditRecord(transfer, outcome), now=now
    )


def _store(client: Any) -> OutcomeStore:
    return OutcomeStore(client, TABLE, event_bus_name="bus", retention_days=30)


def _get(ddb: Any, pk: str) -> dict[str, Any] | None:
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
    return deserialize_item(item) if item else None


def _pks(ddb: Any) -> set[str]:
    return {item["pk"]["S"] for item in ddb.scan(TableName=TABLE)["Items"]}


def test_records_outcome_outbox_and_audit_together(ddb: Any) -> None:
    summary = ResultSummary(issuers=(), course_count=3, total_ects="7.5", report_count=1, attachment_count=0)
    assert _record(_store(ddb), _outcome(status=Status.RECEIVED, summary=summary))

    session = _get(ddb, f"SESSION#{TRANSFER}")
    assert session is not None
    assert session["status"] == "received"
    assert Transfer.from_item(session).outcome == _outcome(status=Status.RECEIVED, summary=summary)
    assert session["expires_at"] == NOW + 30 * 86400
    outbox = _get(ddb, "OUTBOX#e-1")
    assert outbox is not None
    assert outbox["entry"]["DetailType"] == "EMREX Results Received"
    assert outbox["entry"]["EventBusName"] == "bus"
    assert json.loads(outbox["entry"]["Detail"])["summary"]["total_ects"] == "7.5"
    assert outbox["event_id"] == "e-1" and outbox["transfer_id"] == TRANSFER
    assert NOW < outbox["expires_at"] < NOW + 30 * 86400
    audit = _get(ddb, f"AUDIT#{TRANSFER}")
    assert audit is not None
    assert audit["emp_id"] == "no-123" and audit["status"] == "received" and audit["event_id"] == "e-1"


def test_second_outcome_is_refused_and_the_first_stays(ddb: Any) -> None:
    store = _store(ddb)
    assert _record(store, _outcome("e-1", Status.NO_RESULTS))

    assert not _record(store, _outcome("e-2", Status.CANCELLED), now=NOW + 5)

    assert "OUTBOX#e-2" not in _pks(ddb)
    assert _get(ddb, f"SESSION#{TRANSFER}")["outcome"]["event_id"] == "e-1"  # type: ignore[index]


def test_wrong_emrex_session_id_writes_nothing(ddb: Any) -> None:
    before = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"SESSION#{TRANSFER}"}})["Item"]

    assert not _record(_store(ddb), _outcome(), transfer=replace(CHOSEN, emrex_session_id="B" * 32))

    assert ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"SESSION#{TRANSFER}"}})["Item"] == before
    assert _pks(ddb) == {f"SESSION#{TRANSFER}"}


def test_unknown_transfer_is_not_created(ddb: Any) -> None:
    assert not _record(_store(ddb), _outcome(), transfer=replace(CHOSEN, id="f" * 32))
    assert _pks(ddb) == {f"SESSION#{TRANSFER}"}


class FailingClient:
    """Delegates to moto but fails the first ``times`` transactions with ``error``."""

    def __init__(self, real: Any, times: int, error: Exception) -> None:
        self.real, self.times, self.error, self.attempts = real, times, error, 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.attempts += 1
        if self.attempts <= self.times:
            raise self.error
        return self.real.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _cancelled(code: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code}, {"Code": "None"}, {"Code": "None"}],
        },
        "TransactWriteItems",
    )


def test_transaction_conflicts_are_retried(ddb: Any) -> None:
    client = FailingClient(ddb, 2, _cancelled("TransactionConflict"))

    assert _record(_store(client), _outcome())
    assert client.attempts == 3


@pytest.mark.parametrize(
    "error",
    [
        _cancelled("TransactionConflict"),  # persistently
        _cancelled("ThrottlingError"),
        ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "Op"),
        ClientError({"Error": {"Code": "InternalServerError", "Message": "oops"}}, "Op"),
        ReadTimeoutError(endpoint_url="https://dynamodb.example"),
    ],
    ids=["conflict", "throttled-item", "throughput", "internal", "timeout"],
)
def test_transient_failures_are_storage_unavailable_and_write_nothing(ddb: Any, error: Exception) -> None:
    with pytest.raises(EmrexError) as refused:
        _record(_store(FailingClient(ddb, 99, error)), _outcome())

    assert refused.value.code is ErrorCode.STORAGE_UNAVAILABLE
    assert _get(ddb, f"SESSION#{TRANSFER}")["status"] == "pending"  # type: ignore[index]


@pytest.mark.parametrize(
    "error",
    [
        _cancelled("ValidationError"),
        ClientError(
            {"Error": {"Code": "ValidationException", "Message": "Item size has exceeded the maximum allowed size"}},
            "TransactWriteItems",
        ),
    ],
    ids=["cancelled", "validation"],
)
def test_an_item_too_large_is_outcome_too_large(ddb: Any, error: Exception) -> None:
    with pytest.raises(EmrexError) as refused:
        _record(_store(FailingClient(ddb, 1, error)), _outcome())

    assert refused.value.code is ErrorCode.OUTCOME_TOO_LARGE


def test_a_really_oversized_outcome_against_moto_is_outcome_too_large(ddb: Any) -> None:
    huge = _outcome(status=Status.PROVIDER_ERROR, return_message="x" * 450_000)
    with pytest.raises(EmrexError) as refused:
        _record(_store(ddb), huge)
    assert refused.value.code is ErrorCode.OUTCOME_TOO_LARGE
    assert _get(ddb, f"SESSION#{TRANSFER}")["status"] == "pending"  # type: ignore[index]


def test_other_errors_are_raised_as_they_are(ddb: Any) -> None:
    error = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "TransactWriteItems")
    with pytest.raises(ClientError):
        _record(_store(FailingClient(ddb, 1, error)), _outcome())


def test_outbox_ledger_marks_published_rows_and_settles_missing_ones(ddb: Any) -> None:
    _record(_store(ddb), _outcome("e-1"))
    ledger = OutboxLedger(ddb, TABLE)

    assert ledger.settled(["OUTBOX#e-1"]) == set()
    assert ledger.settled(["OUTBOX#e-1", "OUTBOX#e-404"]) == {"OUTBOX#e-404"}  # gone (erased): never publish
    ledger.mark_published("OUTBOX#e-1", now=NOW + 1)

    assert ledger.settled(["OUTBOX#e-1", "OUTBOX#e-1"]) == {"OUTBOX#e-1"}
    assert _get(ddb, "OUTBOX#e-1")["published_at"] == NOW + 1  # type: ignore[index]
    with pytest.raises(ClientError):
        ledger.mark_published("OUTBOX#e-404", now=NOW)  # never creates an outbox row


def test_items_stay_small(ddb: Any) -> None:
    _record(_store(ddb), _outcome())
    for item in ddb.scan(TableName=TABLE)["Items"]:
        assert len(json.dumps(item)) < 4096
