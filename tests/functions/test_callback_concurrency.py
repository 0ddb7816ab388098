"""100 sessions, concurrent callbacks (plus concurrent replays) through the real handlers against moto in
server mode; the relay drains the stream; an EventBridge rule feeds SQS: exactly 100 events, none twice."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from callback import handler as callback_handler
from emrex_emc.adapters.aws import reset_clients
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.core.protocol import new_session_id
from emrex_emc.core.transfer import EmpRef, Transfer
from outbox_relay import handler as relay_handler
from tests.functions.callback_helpers import callback_event, form_for, ok_payload, state_for, trusted_emp
from tests.functions.conftest import BUCKET, BUS, REGION, SECRET, TABLE, AwsEnv, new_transfer, secret_json
from tests.lambda_context import LAMBDA_CONTEXT

SESSIONS = 100
REPLAYED = 10
WORKERS = 8


def _serialize_moto_dynamodb_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's in-memory TransactWriteItems deep-copies the table for rollback without a lock, so concurrent
    writes make it fail ("dictionary changed size during iteration"). DynamoDB itself serializes
    conflicting transactions; give moto's backend one lock so the test checks our code, not moto's."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "put_item", "update_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    _serialize_moto_dynamodb_writes(monkeypatch)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "EMREX_TABLE_NAME": TABLE,
        "EMREX_BUCKET_NAME": BUCKET,
        "EMREX_EVENT_BUS_NAME": BUS,
        "EMREX_SECRET_NAME": SECRET,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_clients()
    callback_handler.reset()
    relay_handler.reset()
    try:
        yield endpoint
    finally:
        callback_handler.reset()
        relay_handler.reset()
        reset_clients()
        server.stop()


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def _create_resources(endpoint: str) -> tuple[Any, str]:
    ddb = _client("dynamodb", endpoint)
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    _client("s3", endpoint).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    _client("secretsmanager", endpoint).create_secret(Name=SECRET, SecretString=secret_json())
    events, sqs = _client("events", endpoint), _client("sqs", endpoint)
    events.create_event_bus(Name=BUS)
    queue_url = sqs.create_queue(QueueName="sis")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="to-sis", EventBusName=BUS, EventPattern=json.dumps({"source": ["emrex.emc"]}))
    events.put_targets(Rule="to-sis", EventBusName=BUS, Targets=[{"Id": "sis", "Arn": arn}])
    return ddb, queue_url


def _stream_records(endpoint: str, ddb: Any) -> list[dict[str, Any]]:
    streams = _client("dynamodbstreams", endpoint)
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        next_iterator = iterator["ShardIterator"]
        while next_iterator:
            page = streams.get_records(ShardIterator=next_iterator, Limit=1000)
            if not page["Records"]:
                break
            records.extend(page["Records"])
            next_iterator = page.get("NextShardIterator")
    result: list[dict[str, Any]] = json.loads(json.dumps(records, default=str))
    return result


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_100_concurrent_callbacks_produce_exactly_100_events(moto_server: str) -> None:
    ddb, queue_url = _create_resources(moto_server)
    repository = TransferTable(ddb, TABLE)
    emp = trusted_emp()
    transfers: list[Transfer] = []
    for _ in range(SESSIONS):
        transfer = replace(
            new_transfer(),
            start_used=True,
            emrex_session_id=new_session_id(),
            emp=EmpRef.of(emp),
            pinned_certs=emp.certificates,
        )
        repository.create(transfer)
        transfers.append(transfer)
    signer = AwsEnv(env={}, dynamodb=None, s3=None, events=None, secretsmanager=None).signer
    codes = ["NCP_OK", "NCP_CANCEL", "EMP_NO_RESULTS", "NCP_ERROR"]
    payload = ok_payload()
    requests = []
    for index, transfer in enumerate(transfers):
        code = codes[index % len(codes)]
        form = form_for(transfer, code, payload if code == "NCP_OK" else "")
        requests.append(callback_event(state_for(signer, transfer), form))
    requests = [r for pair in zip(requests[:REPLAYED], requests[:REPLAYED], strict=True) for r in pair] + requests[
        REPLAYED:
    ]
    # the first REPLAYED POSTs are sent twice, back to back, so each copy races its twin

    def call(event: dict[str, Any]) -> int:
        status: int = callback_handler.handler(event, LAMBDA_CONTEXT)["statusCode"]
        return status

    # Server and clients share one process (and its GIL) on a small CI machine: WORKERS threads at a time
    # keep every request well inside the clients' read timeout while sessions and replays still race.
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        statuses = list(pool.map(call, requests))
    assert Counter(statuses) == {200: SESSIONS + REPLAYED}

    records = _stream_records(moto_server, ddb)
    for begin in range(0, len(records), 100):  # batches as an event source mapping would hand them over
        assert relay_handler.handler({"Records": records[begin : begin + 100]}, LAMBDA_CONTEXT) == {
            "batchItemFailures": []
        }
    # a retried delivery of the whole stream changes nothing
    assert relay_handler.handler({"Records": records[:100]}, LAMBDA_CONTEXT) == {"batchItemFailures": []}

    delivered = _drain(_client("sqs", moto_server), queue_url)
    event_ids = Counter(d["detail"]["event_id"] for d in delivered)
    sessions = Counter(d["detail"]["session_id"] for d in delivered)
    assert len(delivered) == SESSIONS
    assert max(event_ids.values()) == 1 and max(sessions.values()) == 1
    assert set(sessions) == {t.id for t in transfers}
    assert Counter(d["detail-type"] for d in delivered) == {
        "EMREX Results Received": 25,
        "EMREX Transfer Cancelled": 25,
        "EMREX No Results": 25,
        "EMREX Provider Error": 25,
    }
