"""Outcome + outbox + audit in one DynamoDB transaction (moto): exactly once, all or nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emrex_emc.adapters.outcomes import OutboxLedger, OutcomeStore, OutcomeWrite
from emrex_emc.adapters.sessions import deserialize_item, serialize_item
from tests.adapters.conftest import ADAPTER_TABLE

TABLE = ADAPTER_TABLE
TRANSFER = "0123456789abcdef0123456789abcdef"
SID = "A" * 32
NOW = 1_800_000_000


@pytest.fixture
def ddb(dynamodb: Any) -> Any:
    """The adapters' moto table holding one pending session."""
    dynamodb.put_item(
        TableName=TABLE,
        Item=serialize_item(
            {"pk": f"SESSION#{TRANSFER}", "id": TRANSFER, "status": "pending", "emrex_session_id": SID}
        ),
    )
    return dynamodb


def _write(event_id: str = "e-1", status: str = "received", sid: str = SID) -> OutcomeWrite:
    return OutcomeWrite(
        transfer_id=TRANSFER,
        emrex_session_id=sid,
        status=status,
        outcome={"status": status, "event_id": event_id, "summary": {"total_ects": "7.5", "ratio": 0.5}},
        event_id=event_id,
        entry={"Source": "emrex.emc", "DetailType": "EMREX No Results", "Detail": "{}", "EventBusName": "b"},
        audit={"emp_id": "no-123", "signature_algorithm": "rsa-sha256"},
    )


def _get(ddb: Any, pk: str) -> dict[str, Any] | None:
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
    return deserialize_item(item) if item else None


def _pks(ddb: Any) -> set[str]:
    return {item["pk"]["S"] for item in ddb.scan(TableName=TABLE)["Items"]}


def test_records_outcome_outbox_and_audit_together(ddb: Any) -> None:
    store = OutcomeStore(ddb, TABLE, retention_days=30)

    result = store.record(_write(), now=NOW)

    assert result.recorded and result.status == "received"
    session = _get(ddb, f"SESSION#{TRANSFER}")
    assert session is not None
    assert session["status"] == "received"
    assert session["outcome"]["summary"] == {"total_ects": "7.5", "ratio": 0.5}
    assert session["expires_at"] == NOW + 30 * 86400
    outbox = _get(ddb, "OUTBOX#e-1")
    assert outbox is not None
    assert outbox["entry"]["DetailType"] == "EMREX No Results"
    assert outbox["event_id"] == "e-1" and outbox["transfer_id"] == TRANSFER
    assert NOW < outbox["expires_at"] < NOW + 30 * 86400
    audit = _get(ddb, f"AUDIT#{TRANSFER}")
    assert audit is not None
    assert audit["emp_id"] == "no-123" and audit["status"] == "received" and audit["event_id"] == "e-1"


def test_second_outcome_is_refused_and_reports_the_stored_one(ddb: Any) -> None:
    store = OutcomeStore(ddb, TABLE, retention_days=30)
    store.record(_write("e-1", "received"), now=NOW)

    again = store.record(_write("e-2", "cancelled"), now=NOW + 5)

    assert not again.recorded
    assert again.status == "received"
    assert again.outcome is not None and again.outcome["event_id"] == "e-1"
    assert "OUTBOX#e-2" not in _pks(ddb)
    assert _get(ddb, f"SESSION#{TRANSFER}")["outcome"]["event_id"] == "e-1"  # type: ignore[index]


def test_wrong_emrex_session_id_writes_nothing(ddb: Any) -> None:
    before = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"SESSION#{TRANSFER}"}})["Item"]

    result = OutcomeStore(ddb, TABLE, retention_days=30).record(_write(sid="B" * 32), now=NOW)

    assert not result.recorded and result.status == "pending" and result.emrex_session_id == SID
    assert ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"SESSION#{TRANSFER}"}})["Item"] == before
    assert _pks(ddb) == {f"SESSION#{TRANSFER}"}


def test_unknown_session_is_not_created(ddb: Any) -> None:
    write = _write()
    missing = OutcomeWrite(**{**write.__dict__, "transfer_id": "f" * 32})

    result = OutcomeStore(ddb, TABLE, retention_days=30).record(missing, now=NOW)

    assert not result.recorded and result.status is None and result.outcome is None
    assert _pks(ddb) == {f"SESSION#{TRANSFER}"}


class ConflictingClient:
    """Delegates to moto but cancels the first ``conflicts`` transactions with TransactionConflict."""

    def __init__(self, real: Any, conflicts: int, code: str = "TransactionConflict") -> None:
        self.real, self.conflicts, self.code, self.attempts = real, conflicts, code, 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.attempts += 1
        if self.attempts <= self.conflicts:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": self.code}, {"Code": "None"}, {"Code": "None"}],
                },
                "TransactWriteItems",
            )
        return self.real.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_transaction_conflicts_are_retried(ddb: Any) -> None:
    client = ConflictingClient(ddb, conflicts=2)

    result = OutcomeStore(client, TABLE, retention_days=30).record(_write(), now=NOW)

    assert result.recorded and client.attempts == 3


def test_persistent_conflicts_and_other_cancellations_are_raised(ddb: Any) -> None:
    with pytest.raises(ClientError):
        OutcomeStore(ConflictingClient(ddb, conflicts=99), TABLE, retention_days=30).record(_write(), now=NOW)
    with pytest.raises(ClientError):
        OutcomeStore(ConflictingClient(ddb, 1, "ValidationError"), TABLE, retention_days=30).record(_write(), now=NOW)
    assert _get(ddb, f"SESSION#{TRANSFER}")["status"] == "pending"  # type: ignore[index]


def test_outbox_ledger_marks_and_reports_published_events(ddb: Any) -> None:
    OutcomeStore(ddb, TABLE, retention_days=30).record(_write("e-1"), now=NOW)
    ledger = OutboxLedger(ddb, TABLE)

    assert ledger.published(["e-1", "e-404"]) == set()
    ledger.mark_published("e-1", now=NOW + 1)

    assert ledger.published(["e-1", "e-1", "e-404"]) == {"e-1"}
    assert _get(ddb, "OUTBOX#e-1")["published_at"] == NOW + 1  # type: ignore[index]
    with pytest.raises(ClientError):
        ledger.mark_published("e-404", now=NOW)  # never creates an outbox row


def test_items_stay_small(ddb: Any) -> None:
    OutcomeStore(ddb, TABLE, retention_days=30).record(_write(), now=NOW)
    for item in ddb.scan(TableName=TABLE)["Items"]:
        assert len(json.dumps(item)) < 4096
