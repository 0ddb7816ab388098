"""Outbox relay fed with real moto DynamoDB stream records; EventBridge -> rule -> SQS shows what was delivered."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from callback import handler as callback_handler
from emrex_emc.adapters.aws import client as aws_client
from emrex_emc.adapters.outcomes import OutcomeStore
from emrex_emc.adapters.registry_store import SNAPSHOT_PK, RegistryStore
from emrex_emc.core.registry import RegistrySnapshot
from emrex_emc.core.transfer import Transfer
from outbox_relay import handler as relay_handler
from tests.functions.callback_helpers import callback_event, form_for, outbox_events, state_for, trusted_emp
from tests.functions.conftest import REGION, AwsEnv
from tests.lambda_context import LAMBDA_CONTEXT


class Stream:
    """Reads the table's stream from the start, like an event source mapping would hand it over."""

    def __init__(self, env: AwsEnv) -> None:
        arn = env.dynamodb.describe_table(TableName=env.table)["Table"]["LatestStreamArn"]
        self.client = boto3.client("dynamodbstreams", region_name=REGION)
        shard = self.client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = self.client.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]

    def read(self) -> list[dict[str, Any]]:
        """Records since the last read, serialized as the Lambda event carries them (JSON types)."""
        response = self.client.get_records(ShardIterator=self.iterator)
        self.iterator = response["NextShardIterator"]
        return json.loads(json.dumps(response["Records"], default=str))


class Sis:
    """An EventBridge rule on the bus that forwards every EMREX event to an SQS queue."""

    def __init__(self, env: AwsEnv) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.url = self.sqs.create_queue(QueueName="sis")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        env.events.put_rule(Name="to-sis", EventBusName=env.bus, EventPattern=json.dumps({"source": ["emrex.emc"]}))
        env.events.put_targets(Rule="to-sis", EventBusName=env.bus, Targets=[{"Id": "sis", "Arn": arn}])

    def drain(self) -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


class FlakyEvents:
    """An EventBridge client that rejects entries whose detail's event_id is in ``failing`` (or all)."""

    def __init__(self, real: Any, failing: set[str] | None = None) -> None:
        self.real, self.failing, self.calls = real, failing, 0

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.calls += 1
        ok = [e for e in Entries if not self._fails(e)]
        delivered = iter(self.real.put_events(Entries=ok)["Entries"] if ok else [])
        results = [{"ErrorCode": "InternalFailure"} if self._fails(e) else next(delivered) for e in Entries]
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}

    def _fails(self, entry: dict[str, str]) -> bool:
        return self.failing is None or json.loads(entry["Detail"])["event_id"] in self.failing


@pytest.fixture
def env(aws_env: AwsEnv) -> Iterator[AwsEnv]:
    callback_handler.reset()
    relay_handler.reset()
    yield aws_env
    callback_handler.reset()
    relay_handler.reset()


def _use_events_client(monkeypatch: pytest.MonkeyPatch, events: Any) -> None:
    """Point the relay Lambda's EventBridge client at ``events`` (a cold start with another client)."""
    monkeypatch.setattr(relay_handler, "client", lambda service: events if service == "events" else aws_client(service))
    relay_handler.reset()


def _finish(env: AwsEnv, transfer: Transfer, code: str = "NCP_CANCEL") -> dict[str, Any]:
    event = callback_event(state_for(env.signer, transfer), form_for(transfer, code))
    response: dict[str, Any] = callback_handler.handler(event, LAMBDA_CONTEXT)
    return response


def relay_log_levels(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.levelname for record in caplog.records if record.getMessage() == "outbox batch relayed"]


def test_outbox_rows_from_the_stream_are_delivered_once(
    env: AwsEnv, make_transfer: Callable[..., Transfer], caplog: pytest.LogCaptureFixture
) -> None:
    stream, sis = Stream(env), Sis(env)
    transfers = [make_transfer(emp=trusted_emp()) for _ in range(3)]
    for transfer in transfers:
        _finish(env, transfer)
    records = stream.read()

    assert relay_handler.handler({"Records": records}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    assert relay_log_levels(caplog) == ["INFO"]
    delivered = sis.drain()
    assert sorted(d["detail"]["session_id"] for d in delivered) == sorted(t.id for t in transfers)
    assert {d["detail-type"] for d in delivered} == {"EMREX Transfer Cancelled"}

    # the same batch handed over again (e.g. a Lambda retry): nothing is published twice
    assert relay_handler.handler({"Records": records}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    assert sis.drain() == []


def test_eventbridge_outage_then_recovery_delivers_exactly_once(
    env: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream, sis = Stream(env), Sis(env)
    transfer = make_transfer(emp=trusted_emp())
    assert _finish(env, transfer)["statusCode"] == 200  # the student is not affected by the outage
    records = stream.read()
    outbox_sequence = next(
        r["dynamodb"]["SequenceNumber"]
        for r in records
        if r["eventName"] == "INSERT" and r["dynamodb"]["Keys"]["pk"]["S"].startswith("OUTBOX#")
    )

    flaky = FlakyEvents(env.events)  # every entry refused
    _use_events_client(monkeypatch, flaky)
    for _ in range(3):  # Lambda retries the batch while EventBridge is down
        assert relay_handler.handler({"Records": records}, LAMBDA_CONTEXT) == {
            "batchItemFailures": [{"itemIdentifier": outbox_sequence}]
        }
    assert flaky.calls == 3 and sis.drain() == []

    _use_events_client(monkeypatch, env.events)  # recovered
    assert relay_handler.handler({"Records": records}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    assert relay_handler.handler({"Records": records}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    [delivered] = sis.drain()
    assert delivered["detail"]["session_id"] == transfer.id


def test_one_failing_event_does_not_block_the_others(
    env: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream, sis = Stream(env), Sis(env)
    first, second = make_transfer(emp=trusted_emp()), make_transfer(emp=trusted_emp())
    _finish(env, first)
    _finish(env, second, "NCP_NO_RESULTS")
    records = stream.read()
    failing_id = outbox_events_by_session(env)[first.id]

    _use_events_client(monkeypatch, FlakyEvents(env.events, {failing_id}))
    response = relay_handler.handler({"Records": records}, LAMBDA_CONTEXT)

    assert len(response["batchItemFailures"]) == 1
    assert [d["detail"]["session_id"] for d in sis.drain()] == [second.id]

    _use_events_client(monkeypatch, env.events)
    assert relay_handler.handler({"Records": records}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    assert [d["detail"]["session_id"] for d in sis.drain()] == [first.id]


def outbox_events_by_session(env: AwsEnv) -> dict[str, str]:
    return {detail["session_id"]: detail["event_id"] for _, detail in outbox_events(env.dynamodb, env.table)}


def test_crash_between_store_and_publish_still_publishes(
    env: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lambda dies right after the transaction committed: the outbox row is relayed anyway."""
    stream, sis = Stream(env), Sis(env)
    transfer = make_transfer(emp=trusted_emp())
    real_record = OutcomeStore.record

    def commit_then_crash(self: OutcomeStore, *args: Any, **kwargs: Any) -> Any:
        real_record(self, *args, **kwargs)
        raise RuntimeError("Lambda killed after the commit")

    monkeypatch.setattr(OutcomeStore, "record", commit_then_crash)
    assert _finish(env, transfer)["statusCode"] == 500
    monkeypatch.setattr(OutcomeStore, "record", real_record)

    assert relay_handler.handler({"Records": stream.read()}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    [delivered] = sis.drain()
    assert delivered["detail"]["session_id"] == transfer.id

    # the browser retries the same POST: same outcome page, nothing new to relay
    assert _finish(env, transfer)["statusCode"] == 200
    assert relay_handler.handler({"Records": stream.read()}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    assert sis.drain() == []


def test_other_items_are_ignored_and_a_malformed_outbox_record_is_reported(
    env: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    stream, sis = Stream(env), Sis(env)
    env.dynamodb.put_item(TableName=env.table, Item={"pk": {"S": "OUTBOX#broken"}, "event_id": {"S": "broken"}})
    transfer = make_transfer(emp=trusted_emp())
    _finish(env, transfer)
    records = stream.read()
    kinds = {(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"].split("#")[0]) for r in records}
    assert {("INSERT", "SESSION"), ("MODIFY", "SESSION"), ("INSERT", "AUDIT")} <= kinds

    response = relay_handler.handler({"Records": records}, LAMBDA_CONTEXT)

    broken_seq = next(
        r["dynamodb"]["SequenceNumber"] for r in records if r["dynamodb"]["Keys"]["pk"]["S"] == "OUTBOX#broken"
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": broken_seq}]}
    assert [d["detail"]["session_id"] for d in sis.drain()] == [transfer.id]


def test_registry_snapshot_writes_publish_no_event(env: AwsEnv, caplog: pytest.LogCaptureFixture) -> None:
    stream, sis = Stream(env), Sis(env)
    store = RegistryStore(env.dynamodb, env.table)
    for fetched_at in (datetime(2026, 5, 4, tzinfo=UTC), datetime(2026, 5, 5, tzinfo=UTC)):  # INSERT, then MODIFY
        store.save(RegistrySnapshot(fetched_at=fetched_at, source="test", emps=(trusted_emp(),)))
    records = stream.read()
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [
        ("INSERT", SNAPSHOT_PK),
        ("MODIFY", SNAPSHOT_PK),
    ]

    level = relay_handler.logger.log_level
    relay_handler.logger.setLevel(logging.DEBUG)
    try:
        assert relay_handler.handler({"Records": records}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    finally:
        relay_handler.logger.setLevel(level)
    assert sis.drain() == []
    assert relay_log_levels(caplog) == ["DEBUG"]  # nothing relayed: not worth a line at INFO on every batch


def test_an_unforeseen_failure_is_logged_as_json_with_its_traceback_and_the_batch_retried(
    env: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch, log_lines: io.StringIO
) -> None:
    from botocore.exceptions import ClientError

    stream = Stream(env)
    assert _finish(env, make_transfer(emp=trusted_emp()))["statusCode"] == 200

    class Down:
        def put_events(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutEvents")

    _use_events_client(monkeypatch, Down())
    with pytest.raises(ClientError):
        relay_handler.handler({"Records": stream.read()}, LAMBDA_CONTEXT)
    [line] = [json.loads(text) for text in log_lines.getvalue().splitlines() if "outbox batch failed" in text]
    assert line["level"] == "ERROR" and "AccessDeniedException" in line["exception"]
