"""moto resources as the stack declares them, the stream relay (Lambda's event source mapping), the refresh
schedule and the demo SIS, against one real moto server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emrex_emc.adapters.secret_rotation import key_created_at
from emrex_emc.core.secret import parse_secret_bundle
from emrex_emc.local.background import PeriodicRunner, StreamRelay, records_to_retry, to_lambda_record
from emrex_emc.local.demo_apps import DemoSis
from emrex_emc.local.moto_env import (
    MotoEnv,
    ResourceNames,
    Resources,
    api_token_from_env,
    create_resources,
    handler_env,
)
from emrex_emc.settings import Settings
from emrex_emc.web.http import HttpRequest

API_TOKEN = "a-fixed-token-for-the-tests-0123456789"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoEnv]:
    server = MotoEnv()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def resources(moto: MotoEnv) -> Resources:
    return create_resources(moto.client, ResourceNames(), API_TOKEN)


def test_table_has_the_stack_key_ttl_stream_and_index(moto: MotoEnv, resources: Resources) -> None:
    dynamodb = moto.client("dynamodb")
    table = dynamodb.describe_table(TableName=resources.names.table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    (index,) = table["GlobalSecondaryIndexes"]
    assert (index["IndexName"], [k["AttributeName"] for k in index["KeySchema"]]) == (
        "applicant",
        ["applicant_id", "deadline"],
    )
    ttl = dynamodb.describe_time_to_live(TableName=resources.names.table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_bucket_encrypts_with_kms(moto: MotoEnv, resources: Resources) -> None:
    rules = moto.client("s3").get_bucket_encryption(Bucket=resources.names.bucket)["ServerSideEncryptionConfiguration"]
    default = rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": resources.kms_key_id}


def test_secret_is_filled_by_a_rotation_as_at_deploy(moto: MotoEnv, resources: Resources) -> None:
    client = moto.client("secretsmanager")
    secret = client.get_secret_value(SecretId=resources.names.secret, VersionStage="AWSCURRENT")["SecretString"]
    bundle = parse_secret_bundle(secret)
    assert bundle.api_token == API_TOKEN == resources.api_token
    assert key_created_at(bundle.state_key_id) is not None  # a generated key id, not a fixed one
    assert list(bundle.state_keys) == [bundle.state_key_id] and len(bundle.state_keys[bundle.state_key_id]) == 32
    previous = client.get_secret_value(SecretId=resources.names.secret, VersionStage="AWSPREVIOUS")["SecretString"]
    assert json.loads(previous)["state_keys"] == {}  # created empty, as the stack creates it


def test_generated_api_token_when_none_is_given(moto: MotoEnv) -> None:
    names = ResourceNames(table="t2", bucket="bucket-2", event_bus="e2", secret="s2", sis_queue="q2", sis_rule="r2")
    generated = create_resources(moto.client, names).api_token
    assert len(generated) >= 32 and generated != API_TOKEN


def test_api_token_from_the_environment_must_be_long_enough() -> None:
    assert api_token_from_env({}) is None
    assert api_token_from_env({"EMREX_API_TOKEN": API_TOKEN}) == API_TOKEN
    with pytest.raises(ValueError, match="at least 16"):
        api_token_from_env({"EMREX_API_TOKEN": "short"})
    assert api_token_from_env({"EMREX_ADMIN_TOKEN": API_TOKEN}, "EMREX_ADMIN_TOKEN") == API_TOKEN
    with pytest.raises(ValueError, match="EMREX_ADMIN_TOKEN must be at least 16"):
        api_token_from_env({"EMREX_ADMIN_TOKEN": "short"}, "EMREX_ADMIN_TOKEN")


def test_the_admin_token_is_generated_into_the_secret(moto: MotoEnv, resources: Resources) -> None:
    client = moto.client("secretsmanager")
    secret = client.get_secret_value(SecretId=resources.names.secret, VersionStage="AWSCURRENT")["SecretString"]
    bundle = parse_secret_bundle(secret)
    assert bundle.admin_token == resources.admin_token and len(resources.admin_token) >= 32
    assert bundle.admin_token not in bundle.api_tokens()


def test_sis_rule_delivers_only_the_sis_contract_and_the_events_queue_everything(
    moto: MotoEnv, resources: Resources
) -> None:
    events = moto.client("events")
    sent = [("other.app", "EMREX No Results"), ("emrex.emc", "EMREX No Results"), ("emrex.emc", "EMREX EMP Added")]
    for source, detail_type in sent:
        events.put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps({"event_id": f"{source} {detail_type}"}),
                    "EventBusName": resources.names.event_bus,
                }
            ]
        )
    sqs = moto.client("sqs")
    received = {}
    for name, url in [
        ("sis", resources.queue_url),
        ("operations", resources.operations_queue_url),
        ("all", resources.all_events_queue_url),
    ]:
        consumer = DemoSis(sqs, url)
        while consumer.poll_once(wait_seconds=0):
            pass
        received[name] = sorted(e["detail"]["event_id"] for e in consumer.events)
    assert received == {
        "sis": ["emrex.emc EMREX No Results"],
        "operations": ["emrex.emc EMREX EMP Added"],
        "all": ["emrex.emc EMREX EMP Added", "emrex.emc EMREX No Results"],
    }


def test_handler_env_is_a_valid_local_configuration(resources: Resources) -> None:
    env = handler_env(
        resources,
        public_base_url="http://127.0.0.1:8080",
        allowed_return_urls=["http://127.0.0.1:9000/return"],
        registry_urls=["http://127.0.0.1:9001/catalogue-v1.xml", "/tmp/emreg-v2.json"],
        xsd_dir="",
    )
    settings = Settings.from_env(env)
    assert settings.local_mode is True
    assert settings.table_name == resources.names.table
    assert settings.allowed_return_urls == ("http://127.0.0.1:9000/return",)
    assert settings.public_base_url == "http://127.0.0.1:8080"
    assert settings.registry_urls == ("http://127.0.0.1:9001/catalogue-v1.xml", "/tmp/emreg-v2.json")
    identity = settings.client_identity
    assert identity is not None and (identity.client_id, identity.redirect_uri) == (
        "emc-local",
        "http://127.0.0.1:8080/callback",
    )
    assert settings.client_keys == (("emc-local-1", resources.client_key_id),)


# --- stream relay --------------------------------------------------------------------------------


def test_to_lambda_record_makes_boto3_output_json_like_lambda_input() -> None:
    record = {
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
            "NewImage": {"pk": {"S": "x"}, "blob": {"B": b"\x00\x01"}, "tags": {"BS": [b"\xff"]}},
        },
    }
    converted = to_lambda_record(record, "arn:stream")
    assert converted["eventSourceARN"] == "arn:stream"
    assert converted["dynamodb"]["ApproximateCreationDateTime"] == 1767225600
    assert converted["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}
    assert converted["dynamodb"]["NewImage"]["tags"] == {"BS": ["/w=="]}
    json.dumps(converted)


def _records(*sequence_numbers: str) -> list[dict[str, Any]]:
    return [{"dynamodb": {"SequenceNumber": n}} for n in sequence_numbers]


def test_records_to_retry_follows_lambda_batch_item_failures() -> None:
    batch = _records("1", "2", "3")
    assert records_to_retry(batch, None) == []
    assert records_to_retry(batch, {"batchItemFailures": []}) == []
    assert records_to_retry(batch, {"batchItemFailures": [{"itemIdentifier": "2"}]}) == batch[1:]
    assert (
        records_to_retry(batch, {"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]})
        == (batch[1:])
    )
    assert records_to_retry(batch, {"batchItemFailures": [{"itemIdentifier": "unknown"}]}) == batch


class FlakyHandler:
    """Fails the first ``failures`` calls, then reports ``then`` (e.g. batch item failures) once."""

    def __init__(self, failures: int = 0, then: Any = None) -> None:
        self.failures = failures
        self.then = then
        self.batches: list[list[str]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.batches.append([r["dynamodb"]["NewImage"]["pk"]["S"] for r in event["Records"]])
        assert context.function_name == "outbox_relay"
        if self.failures:
            self.failures -= 1
            raise RuntimeError("EventBridge is down")
        result, self.then = self.then, None
        return result


def _relay(moto: MotoEnv, resources: Resources, handler: FlakyHandler, max_attempts: int = 5) -> StreamRelay:
    relay = StreamRelay(
        moto.client("dynamodbstreams"),
        resources.stream_arn,
        handler,
        max_attempts=max_attempts,
        retry_delay_seconds=0.01,
    )
    relay.open()  # no background thread: the test drives poll_once itself
    relay.handler = lambda event, context: None
    while relay.poll_once():  # skip what earlier tests wrote
        pass
    relay.handler = handler
    relay.batches_delivered = 0
    return relay


def _put(moto: MotoEnv, resources: Resources, *keys: str) -> None:
    for key in keys:
        moto.client("dynamodb").put_item(TableName=resources.names.table, Item={"pk": {"S": key}})


def test_relay_delivers_new_items_in_lambda_shape(moto: MotoEnv, resources: Resources) -> None:
    handler = FlakyHandler()
    relay = _relay(moto, resources, handler)
    _put(moto, resources, "OUTBOX#1", "OUTBOX#2")
    assert relay.poll_once() == 2
    assert handler.batches == [["OUTBOX#1", "OUTBOX#2"]]
    assert relay.poll_once() == 0


def test_relay_retries_a_failed_batch_whole(moto: MotoEnv, resources: Resources) -> None:
    handler = FlakyHandler(failures=2)
    relay = _relay(moto, resources, handler)
    _put(moto, resources, "OUTBOX#3")
    relay.poll_once()
    assert handler.batches == [["OUTBOX#3"]] * 3
    assert relay.batches_delivered == 1


def test_relay_retries_from_the_first_reported_failure(moto: MotoEnv, resources: Resources) -> None:
    handler = FlakyHandler()
    relay = _relay(moto, resources, handler)
    _put(moto, resources, "OUTBOX#4", "OUTBOX#5", "OUTBOX#6")
    stream = moto.client("dynamodbstreams")
    shard = stream.describe_stream(StreamArn=resources.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = stream.get_shard_iterator(
        StreamArn=resources.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    records = stream.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    fifth = next(r for r in records if r["dynamodb"]["Keys"]["pk"]["S"] == "OUTBOX#5")
    handler.then = {"batchItemFailures": [{"itemIdentifier": fifth["dynamodb"]["SequenceNumber"]}]}
    relay.poll_once()
    assert handler.batches == [["OUTBOX#4", "OUTBOX#5", "OUTBOX#6"], ["OUTBOX#5", "OUTBOX#6"]]


def test_relay_gives_up_after_max_attempts(
    moto: MotoEnv, resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    handler = FlakyHandler(failures=10)
    relay = _relay(moto, resources, handler, max_attempts=3)
    _put(moto, resources, "OUTBOX#7")
    with caplog.at_level(logging.ERROR):
        relay.poll_once()
    assert len(handler.batches) == 3
    assert relay.batches_delivered == 0
    assert "gave up on a batch of 1 record(s)" in caplog.text


# --- refresh schedule -------------------------------------------------------------------------------


def test_periodic_runner_passes_a_scheduled_event_and_survives_failures(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[dict[str, Any]] = []

    def refresh(event: dict[str, Any], context: Any) -> dict[str, str]:
        seen.append(event)
        if len(seen) == 1:
            raise RuntimeError("registry unreachable")
        return {"status": "updated"}

    runner = PeriodicRunner(refresh, interval_seconds=3600)
    with caplog.at_level(logging.ERROR):
        assert runner.run_once() is False
    assert "registry_refresh failed" in caplog.text
    assert runner.run_once() is True
    assert runner.last_result == {"status": "updated"}
    assert seen[0]["source"] == "aws.events"
    assert seen[0]["detail-type"] == "Scheduled Event"
    assert "force" not in seen[0]


def test_the_local_schedule_forces_each_fetch() -> None:
    seen: list[dict[str, Any]] = []
    runner = PeriodicRunner(lambda event, context: seen.append(event), interval_seconds=3600, payload={"force": True})
    assert runner.run_once() is True
    assert seen[0]["force"] is True and seen[0]["detail-type"] == "Scheduled Event"


# --- demo SIS -------------------------------------------------------------------------------------


def test_each_consumer_logs_each_event_once_under_its_own_name(
    moto: MotoEnv, resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    """The runner's log of every event on the bus is not the SIS: the log says which consumer got what."""
    sqs = moto.client("sqs")
    sis, event_log = (
        DemoSis(sqs, resources.queue_url),
        DemoSis(sqs, resources.all_events_queue_url, name="all-events log"),
    )
    for consumer in (sis, event_log):
        while consumer.poll_once(wait_seconds=0):  # drain earlier tests' messages
            pass
    sis_event = {"detail-type": "EMREX Results Received", "detail": {"event_id": "sis-1"}}
    operations_event = {"detail-type": "EMREX EMP Added", "detail": {"event_id": "ops-1"}}
    sqs.send_message(QueueUrl=resources.queue_url, MessageBody=json.dumps(sis_event))
    for event in (sis_event, operations_event):
        sqs.send_message(QueueUrl=resources.all_events_queue_url, MessageBody=json.dumps(event))
    with caplog.at_level(logging.INFO, logger="emrex_emc.local.demo_apps"):
        for consumer in (sis, event_log):
            while consumer.poll_once(wait_seconds=0):
                pass
    assert sorted(record.getMessage() for record in caplog.records) == [
        "all-events log received EMREX EMP Added",
        "all-events log received EMREX Results Received",
        "demo SIS received EMREX Results Received",
    ]


def test_demo_sis_records_each_event_once_to_the_file_and_escapes_its_page(
    moto: MotoEnv, resources: Resources, tmp_path: Path
) -> None:
    sqs = moto.client("sqs")
    sis = DemoSis(sqs, resources.queue_url, events_file=tmp_path / "out" / "events.jsonl")
    while sis.poll_once(wait_seconds=0):  # drain earlier tests' messages
        pass
    event = {
        "id": "eb-1",
        "time": "2026-11-28T10:00:00Z",
        "detail-type": "EMREX Results Received",
        "source": "emrex.emc",
        "detail": {
            "event_id": "e-1",
            "session_id": "<b>x</b>",
            "status": "received",
            "identity": {"verdict": "MATCH"},
            "summary": {"course_count": 3, "total_ects": "18", "issuers": [{"name": "Uni X"}]},
        },
    }
    for _ in range(2):  # at-least-once delivery: the same event twice
        sqs.send_message(QueueUrl=resources.queue_url, MessageBody=json.dumps(event))
    sqs.send_message(QueueUrl=resources.queue_url, MessageBody="not json")
    received = 0
    while (count := sis.poll_once(wait_seconds=0)) or received == 0:
        received += count
    lines = sis.events_file.read_text(encoding="utf-8").splitlines() if sis.events_file else []
    assert [json.loads(line) for line in lines] == [event]
    assert sis.duplicates == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=resources.queue_url, WaitTimeSeconds=0)
    page = str(sis.page(HttpRequest(method="GET", path="/")).body)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "received MATCH" in page
    assert "3 courses, 18 ECTS (Uni X)" in page
