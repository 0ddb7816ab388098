"""The callback under hostile or unlucky conditions: wrong media type, attacker-sized values, a store that refuses
an outcome for its size or is throttled, two different answers racing for one transfer, log state between calls."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from callback import handler as callback_handler
from emrex_emc.adapters.events import MAX_DETAIL_BYTES
from emrex_emc.adapters.outcomes import OutcomeStore
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.outcome import Outcome
from emrex_emc.core.protocol import Status
from emrex_emc.core.transfer import Transfer
from emrex_emc.local.elmo_factory import encode_elmo
from tests.functions.callback_helpers import (
    callback_event,
    form_for,
    ok_payload,
    outbox_events,
    raw_item,
    s3_keys,
    signed_xml,
    state_for,
    trusted_emp,
)
from tests.functions.conftest import AwsEnv, rewired
from tests.lambda_context import LAMBDA_CONTEXT

DYNAMODB_ITEM_LIMIT = 400 * 1024


fresh_handler = rewired(callback_handler)


@pytest.fixture
def transfer(make_transfer: Callable[..., Transfer]) -> Transfer:
    return make_transfer(emp=trusted_emp())


def post(aws_env: AwsEnv, transfer: Transfer, form: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = callback_handler.handler(
        callback_event(state_for(aws_env.signer, transfer), form, **kwargs), LAMBDA_CONTEXT
    )
    return response


def stored(aws_env: AwsEnv, transfer: Transfer) -> Transfer:
    found = aws_env.transfers.get(transfer.id)
    assert found is not None
    return found


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", "application/json", ""])
def test_anything_but_a_web_form_is_a_styled_415(aws_env: AwsEnv, transfer: Transfer, content_type: str) -> None:
    event = callback_event(state_for(aws_env.signer, transfer), form_for(transfer, "NCP_OK", ok_payload()))
    event["headers"]["content-type"] = content_type
    before = raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}")

    response = callback_handler.handler(event, LAMBDA_CONTEXT)

    assert response["statusCode"] == 415
    assert response["headers"]["content-type"].startswith("text/html") and "UNSUPPORTED_MEDIA_TYPE" in response["body"]
    assert raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}") == before


@pytest.mark.parametrize("state", ["k1.\ud800.x", "\udfff", "k1.eyJ\ud83d.abc"])
def test_a_state_with_a_lone_surrogate_is_a_styled_400(aws_env: AwsEnv, transfer: Transfer, state: str) -> None:
    event = callback_event(state_for(aws_env.signer, transfer), form_for(transfer, "NCP_OK", ok_payload()))
    event["queryStringParameters"]["state"] = state  # the event's JSON may carry "\ud800"; it cannot be UTF-8
    before = raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}")

    response = callback_handler.handler(event, LAMBDA_CONTEXT)

    assert response["statusCode"] == 400 and response["headers"]["content-type"].startswith("text/html")
    assert "STATE_INVALID" in response["body"]
    assert raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}") == before


def _huge_uri_payload() -> str:
    xml = signed_xml().replace(b'URI=""', b'URI="#' + b"A" * 450_000 + b'"', 1)
    return encode_elmo(xml)


@pytest.mark.parametrize(
    ("code", "form_changes"),
    [
        ("NCP_OK", {"elmo": "huge-uri"}),
        ("NCP_ERROR", {"returnMessage": "\x1b[2J" + "é" * 300_000}),
        ("NCP_" + "X" * 100_000, {}),
    ],
    ids=["450k-reference-uri", "300k-return-message", "100k-return-code"],
)
def test_attacker_sized_values_never_travel_on(
    aws_env: AwsEnv, transfer: Transfer, code: str, form_changes: dict[str, str]
) -> None:
    form = form_for(transfer, code)
    form.update(form_changes)
    if form.get("elmo") == "huge-uri":
        form["elmo"] = _huge_uri_payload()

    response = post(aws_env, transfer, form)

    assert response["statusCode"] == 200
    assert len(response["body"]) < 20_000 and "\x1b" not in response["body"]
    decided = stored(aws_env, transfer)
    assert decided.status is not Status.PENDING  # never left pending for good
    item = raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}")
    assert len(json.dumps(item).encode()) < DYNAMODB_ITEM_LIMIT
    [(_, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    assert len(json.dumps(detail, ensure_ascii=False).encode()) < MAX_DETAIL_BYTES
    assert "\x1b" not in json.dumps(detail, ensure_ascii=False)


def test_an_outcome_the_store_refuses_for_its_size_becomes_a_fixed_rejection(
    aws_env: AwsEnv, transfer: Transfer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = OutcomeStore.record
    attempts: list[Status] = []

    def only_small(self: OutcomeStore, transfer: Transfer, outcome: Outcome, **kwargs: Any) -> bool:
        attempts.append(outcome.status)
        if outcome.error is None or outcome.error.code != "OUTCOME_TOO_LARGE":
            raise EmrexError(ErrorCode.OUTCOME_TOO_LARGE, "too large")
        return real(self, transfer, outcome, **kwargs)

    monkeypatch.setattr(OutcomeStore, "record", only_small)
    response = post(aws_env, transfer, form_for(transfer, "NCP_OK", ok_payload()))

    assert response["statusCode"] == 200 and "OUTCOME_TOO_LARGE" in response["body"]
    assert attempts[0] is Status.RECEIVED and attempts[-1] is Status.REJECTED and len(attempts) >= 3
    decided = stored(aws_env, transfer)
    assert decided.status is Status.REJECTED and decided.outcome is not None
    assert decided.outcome.error is not None and decided.outcome.error.code == "OUTCOME_TOO_LARGE"
    assert decided.outcome.s3 is not None  # the evidence stays reachable for a person to look at
    [(detail_type, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    assert detail_type == "EMREX Results Rejected" and detail["error"]["code"] == "OUTCOME_TOO_LARGE"


def test_a_throttled_table_is_a_503_the_transfer_stays_pending_and_the_retry_completes_it(
    aws_env: AwsEnv, transfer: Transfer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emrex_emc.adapters.aws import client

    dynamodb = client("dynamodb")
    real = dynamodb.transact_write_items

    def throttled(**kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "TransactWriteItems",
        )

    monkeypatch.setattr(dynamodb, "transact_write_items", throttled)
    form = form_for(transfer, "NCP_OK", ok_payload())
    failed = post(aws_env, transfer, form)

    assert failed["statusCode"] == 503 and "STORAGE_UNAVAILABLE" in failed["body"]
    assert stored(aws_env, transfer).status is Status.PENDING
    assert outbox_events(aws_env.dynamodb, aws_env.table) == []

    monkeypatch.setattr(dynamodb, "transact_write_items", real)
    assert post(aws_env, transfer, form)["statusCode"] == 200
    assert stored(aws_env, transfer).status is Status.RECEIVED


@pytest.mark.parametrize(
    "failure",
    [
        ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "GetItem"),
        ReadTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"),
    ],
    ids=["throttled", "timeout"],
)
def test_a_transient_failure_reading_the_transfer_is_a_503_and_the_retry_completes_it(
    aws_env: AwsEnv, transfer: Transfer, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    """The callback's first read of the transfer (``TransferTable.find``) throttled or timed out: 503
    STORAGE_UNAVAILABLE, never a 500, and the transfer stays pending for the EMP's retry."""
    from emrex_emc.adapters.aws import client

    dynamodb = client("dynamodb")
    real = dynamodb.get_item

    def failing(**kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(dynamodb, "get_item", failing)
    form = form_for(transfer, "NCP_OK", ok_payload())
    failed = post(aws_env, transfer, form)
    monkeypatch.setattr(dynamodb, "get_item", real)

    assert failed["statusCode"] == 503 and "STORAGE_UNAVAILABLE" in failed["body"]
    assert stored(aws_env, transfer).status is Status.PENDING
    assert post(aws_env, transfer, form)["statusCode"] == 200


def test_two_different_answers_racing_for_one_transfer_give_one_outcome_and_one_event(
    aws_env: AwsEnv, transfer: Transfer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both are verified, then both write their evidence at the same moment: exactly one wins."""
    from emrex_emc.adapters.blobs import BlobStore

    barrier = threading.Barrier(2, timeout=30)
    real = BlobStore.put_transfer_objects

    def together(self: BlobStore, *args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(BlobStore, "put_transfer_objects", together)
    callback_handler._wiring()  # wire once, before the threads race
    forms = {
        "received": form_for(transfer, "NCP_OK", ok_payload()),
        "other": form_for(transfer, "NCP_OK", ok_payload(courses=4)),
    }
    responses: dict[str, dict[str, Any]] = {}

    def answer(name: str) -> None:
        responses[name] = post(aws_env, transfer, forms[name])

    threads = [threading.Thread(target=answer, args=(name,)) for name in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(response["statusCode"] for response in responses.values())
    assert statuses == [200, 409]
    loser = next(response for response in responses.values() if response["statusCode"] == 409)
    assert "SESSION_ALREADY_COMPLETED" in loser["body"]
    assert len(outbox_events(aws_env.dynamodb, aws_env.table)) == 1
    decided = stored(aws_env, transfer)
    assert decided.status is Status.RECEIVED and decided.outcome is not None
    payload_key = f"transfers/{transfer.id}/payload.txt"
    evidence = aws_env.s3.get_object(Bucket=aws_env.bucket, Key=payload_key)["Body"].read()
    assert evidence.decode() in {form["elmo"] for form in forms.values()}
    assert decided.outcome.s3 is not None and decided.outcome.s3.payload_key == payload_key
    assert payload_key in s3_keys(aws_env.s3, aws_env.bucket)


def _read(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]  # every log line is JSON
    buffer.seek(0)
    buffer.truncate()
    return lines


def test_a_failing_request_never_carries_the_previous_transfers_id_in_its_logs(
    aws_env: AwsEnv, transfer: Transfer, log_lines: io.StringIO
) -> None:
    assert post(aws_env, transfer, form_for(transfer, "NCP_CANCEL"))["statusCode"] == 200
    handled = _read(log_lines)
    assert [line["correlation_id"] for line in handled if line["message"] == "callback handled"] == [transfer.id]

    forged = callback_event("k2.forged.state", form_for(transfer, "NCP_CANCEL"))
    assert callback_handler.handler(forged, LAMBDA_CONTEXT)["statusCode"] == 400
    refused = _read(log_lines)
    assert [line["error_code"] for line in refused if line["message"] == "request refused"] == ["STATE_INVALID"]
    assert all(line.get("correlation_id") != transfer.id for line in refused)
    assert transfer.id not in json.dumps(refused)
