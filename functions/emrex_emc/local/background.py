"""What AWS runs for us in the background, done locally with the real handlers.

* :class:`StreamRelay`: the DynamoDB Streams event source mapping of the outbox relay. It polls the
  stream with ``get_records``, hands each non-empty batch to the relay handler as ``{"Records": [...]}``
  (the shape Lambda delivers), keeps the shard iterators, and retries a failed batch like Lambda does
  (the whole batch on an exception; from the first reported item with ``batchItemFailures``).
* :class:`PeriodicRunner`: the EventBridge schedule of the registry refresh (at start, then every N minutes;
  sooner again after a failure).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emrex_emc.local.apigw import new_context

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


def to_lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A boto3 ``get_records`` record as Lambda delivers it (JSON types, epoch seconds, base64 binaries)."""
    converted: dict[str, Any] = _jsonable(record)
    converted.setdefault("eventSourceARN", stream_arn)
    return converted


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def records_to_retry(batch: list[dict[str, Any]], response: Any) -> list[dict[str, Any]]:
    """Records Lambda would retry after a successful invocation reporting ``batchItemFailures``.

    For streams Lambda restarts from the lowest failed sequence number, so that record and every later
    one in the batch are retried.
    """
    if not isinstance(response, Mapping):
        return []
    failures = response.get("batchItemFailures") or []
    failed_ids = {str(item.get("itemIdentifier")) for item in failures if isinstance(item, Mapping)}
    for index, record in enumerate(batch):
        if str(record.get("dynamodb", {}).get("SequenceNumber")) in failed_ids:
            return batch[index:]
    return list(batch) if failed_ids else []


@dataclass
class StreamRelay:
    """Feeds a DynamoDB stream to a handler, the way a Lambda event source mapping does."""

    streams_client: Any
    stream_arn: str
    handler: Handler
    function_name: str = "outbox_relay"
    poll_seconds: float = 0.25
    max_attempts: int = 5
    """Attempts per batch before it is dropped with an error log (Lambda's ``MaximumRetryAttempts`` + 1)."""
    retry_delay_seconds: float = 0.5
    """First back-off between attempts; doubles each time, capped at 5 s."""
    batches_delivered: int = 0
    _iterators: dict[str, str | None] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def open(self) -> None:
        """Take shard iterators from the start of the stream (the mapping is created with the table)."""
        self._refresh_shards()

    def start(self) -> None:
        self.open()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def poll_once(self) -> int:
        """Read every shard once and deliver what arrived; returns the number of records delivered."""
        delivered = 0
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            response = self.streams_client.get_records(ShardIterator=iterator, Limit=100)
            records = [to_lambda_record(r, self.stream_arn) for r in response.get("Records", [])]
            self._iterators[shard_id] = response.get("NextShardIterator")
            if records:
                self._deliver(records)
                delivered += len(records)
        if all(iterator is None for iterator in self._iterators.values()):
            self._refresh_shards()
        return delivered

    def _refresh_shards(self) -> None:
        shards = self.streams_client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.streams_client.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        batch = records
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.handler({"Records": batch}, new_context(self.function_name, timeout_seconds=60))
            except Exception:
                logger.exception("%s failed on a batch of %d (attempt %d)", self.function_name, len(batch), attempt)
            else:
                batch = records_to_retry(batch, response)
                if not batch:
                    self.batches_delivered += 1
                    return
                logger.warning("%s reported %d failed record(s) (attempt %d)", self.function_name, len(batch), attempt)
            last = attempt == self.max_attempts
            if last or self._stop.wait(min(self.retry_delay_seconds * 2 ** (attempt - 1), 5.0)):
                break
        logger.error("%s: gave up on a batch of %d record(s)", self.function_name, len(batch))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("reading the DynamoDB stream failed")
            self._stop.wait(self.poll_seconds)


def scheduled_event(rule_name: str) -> dict[str, Any]:
    """The event an EventBridge schedule passes to its target."""
    return {
        "version": "0",
        "id": new_context(rule_name).aws_request_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-1",
        "resources": [f"arn:aws:events:eu-west-1:123456789012:rule/{rule_name}"],
        "detail": {},
    }


@dataclass
class PeriodicRunner:
    """Calls a handler with a scheduled event now (synchronously) and then every ``interval_seconds``."""

    handler: Handler
    function_name: str = "registry_refresh"
    interval_seconds: float = 15 * 60
    payload: dict[str, Any] = field(default_factory=dict)
    """Merged into each scheduled event (the local stack passes ``{"force": True}``)."""
    retry_seconds: float = 30
    """After a failed run the next one comes sooner (EventBridge would retry the invocation)."""
    last_result: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """One scheduled invocation; a failure is logged (as Lambda would) and reported as ``False``."""
        try:
            self.last_result = self.handler(
                {**scheduled_event(self.function_name), **self.payload},
                new_context(self.function_name, timeout_seconds=120),
            )
        except Exception:
            logger.exception("%s failed", self.function_name)
            return False
        return True

    def start(self, *, run_now: bool = True) -> bool:
        """Run once now (unless the caller just did), then keep the schedule in a thread; returns whether the
        first run succeeded."""
        succeeded = self.run_once() if run_now else True
        self._thread = threading.Thread(target=self._loop, args=(succeeded,), name=self.function_name, daemon=True)
        self._thread.start()
        return succeeded

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self, last_succeeded: bool) -> None:
        while not self._stop.wait(self.interval_seconds if last_succeeded else self.retry_seconds):
            last_succeeded = self.run_once()
