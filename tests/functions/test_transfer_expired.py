"""``EMREX Transfer Expired``: a pending transfer removed by DynamoDB's TTL is announced by the relay.

moto runs no TTL deletion: the records are real moto stream records of a ``DeleteItem`` (old image
included) given the ``userIdentity`` that DynamoDB puts on TTL removals.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from emrex_emc.adapters.erasure import TransferEraser
from emrex_emc.adapters.sessions import session_pk
from emrex_emc.core.events import SCHEMA_VERSION, TransferExpiredEvent
from emrex_emc.core.transfer import Transfer
from outbox_relay import handler as relay_handler
from tests.functions.callback_helpers import callback_event, form_for, state_for, trusted_emp
from tests.functions.conftest import AwsEnv
from tests.functions.test_event_schemas import _schemas
from tests.functions.test_relay import Sis, Stream
from tests.lambda_context import LAMBDA_CONTEXT

TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


@pytest.fixture
def env(aws_env: AwsEnv) -> Iterator[AwsEnv]:
    relay_handler.reset()
    yield aws_env
    relay_handler.reset()


def removed(
    env: AwsEnv, stream: Stream, transfer_id: str, identity: dict[str, str] | None = TTL
) -> list[dict[str, Any]]:
    """The stream record of removing the transfer's item, as TTL (``identity``) or a person (None) did it."""
    env.dynamodb.delete_item(TableName=env.table, Key={"pk": {"S": session_pk(transfer_id)}})
    records = [r for r in stream.read() if r["eventName"] == "REMOVE"]
    for record in records:
        if identity is not None:
            record["userIdentity"] = identity
    return records


def relay(records: list[dict[str, Any]]) -> dict[str, Any]:
    response: dict[str, Any] = relay_handler.handler({"Records": records}, LAMBDA_CONTEXT)
    return response


def test_a_pending_transfer_removed_by_ttl_is_announced_once_per_record(
    env: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    stream, sis = Stream(env), Sis(env)
    never_chosen = make_transfer(now=1_800_000_000)
    chosen = make_transfer(now=1_800_000_000, emp=trusted_emp())
    stream.read()
    records = removed(env, stream, never_chosen.id) + removed(env, stream, chosen.id)

    assert relay(records) == {"batchItemFailures": []}
    delivered = sis.drain()
    assert [e["detail-type"] for e in delivered] == ["EMREX Transfer Expired"] * 2
    details = {e["detail"]["session_id"]: e["detail"] for e in delivered}
    assert details[never_chosen.id] == {
        "event_id": TransferExpiredEvent(never_chosen).event_id,
        "schema_version": SCHEMA_VERSION,
        "protocol": "emrex-1",
        "session_id": never_chosen.id,
        "applicant_id": never_chosen.applicant_id,
        "emp": None,
        "created_at": never_chosen.created_at,
        "expired_at": "2027-01-15T08:30:00Z",
        "status": "expired",
    }
    emp = trusted_emp()
    assert details[chosen.id]["emp"] == {
        "id": emp.id,
        "name": emp.name,
        "country": "NO",
        "url": emp.url,
        "protocol": "emrex-1",
    }
    for event in delivered:
        jsonschema.validate(
            event["detail"], _schemas()["EMREX Transfer Expired"], format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    relay(records)  # a retried batch: the same event again (no outbox row to mark), with the same id
    assert sorted(e["detail"]["event_id"] for e in sis.drain()) == sorted(d["event_id"] for d in details.values())


def test_decided_erased_or_hand_deleted_transfers_are_not_announced(
    env: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    from callback import handler as callback_handler

    stream, sis = Stream(env), Sis(env)
    decided = make_transfer(emp=trusted_emp())
    callback_handler.reset()
    callback_handler.handler(
        callback_event(state_for(env.signer, decided), form_for(decided, "NCP_CANCEL")), LAMBDA_CONTEXT
    )
    erased = make_transfer()
    TransferEraser(env.dynamodb, env.s3, env.table, env.bucket).erase(erased.id, now=1, keep_until=2)
    by_hand = make_transfer()
    stream.read()
    records = (
        removed(env, stream, decided.id) + removed(env, stream, erased.id) + removed(env, stream, by_hand.id, None)
    )
    assert len(records) == 3

    assert relay(records) == {"batchItemFailures": []}
    assert sis.drain() == []
    callback_handler.reset()


def test_an_unreadable_old_image_is_reported_not_dropped(env: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    stream = Stream(env)
    transfer = make_transfer()
    stream.read()
    (record,) = removed(env, stream, transfer.id)
    del record["dynamodb"]["OldImage"]["deadline"]
    assert relay([record]) == {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}


def test_the_event_names_no_one_but_by_applicant_id() -> None:
    from tests.functions.conftest import new_transfer

    detail = TransferExpiredEvent(new_transfer()).detail()
    flat = json.dumps(detail)
    assert "Nordmann" not in flat and "Kari" not in flat and "1998" not in flat
