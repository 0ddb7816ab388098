"""EventPublisher: chunks of 10, failures raised with their indexes, real delivery through moto."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from emrex_emc.adapters.events import MAX_DETAIL_BYTES, EventPublisher, entry_for
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.events import SOURCE, DetailType, PublishFailed


@dataclass(frozen=True)
class _Event:
    detail_type: str
    payload: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.payload.get("event_id", ""))

    def detail(self) -> dict[str, Any]:
        return self.payload


def build_event(detail_type: str, detail: dict[str, Any], bus: str) -> dict[str, str]:
    return entry_for(_Event(detail_type, detail), bus)


class FakeEvents:
    """Records PutEvents calls; ``fail`` maps a global entry index to an error code."""

    def __init__(self, fail: dict[int, str] | None = None, omit_entries: bool = False) -> None:
        self.calls: list[list[dict[str, str]]] = []
        self.fail = fail or {}
        self.omit_entries = omit_entries

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:
        offset = sum(len(call) for call in self.calls)
        self.calls.append(Entries)
        results = []
        for index in range(len(Entries)):
            code = self.fail.get(offset + index)
            results.append({"ErrorCode": code, "ErrorMessage": "boom"} if code else {"EventId": f"id-{offset + index}"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": [] if self.omit_entries else results}


def _entries(count: int) -> list[dict[str, str]]:
    return [build_event(DetailType.NO_RESULTS, {"event_id": str(i)}, "bus") for i in range(count)]


def test_build_event_is_a_compact_put_events_entry() -> None:
    entry = build_event(DetailType.RESULTS_RECEIVED, {"b": 1, "a": "é"}, "my-bus")

    assert entry == {
        "Source": SOURCE,
        "DetailType": "EMREX Results Received",
        "Detail": '{"a":"é","b":1}',
        "EventBusName": "my-bus",
    }


def test_a_detail_over_the_bound_is_refused_not_published() -> None:
    with pytest.raises(EmrexError) as refused:
        build_event(DetailType.NO_RESULTS, {"event_id": "e", "x": "é" * MAX_DETAIL_BYTES}, "bus")
    assert refused.value.code is ErrorCode.OUTCOME_TOO_LARGE


def test_publishes_in_chunks_of_ten() -> None:
    fake = FakeEvents()
    EventPublisher(fake).publish(_entries(23))

    assert [len(call) for call in fake.calls] == [10, 10, 3]
    sent = [json.loads(e["Detail"])["event_id"] for call in fake.calls for e in call]
    assert sent == [str(i) for i in range(23)]


def test_nothing_to_publish_makes_no_call() -> None:
    fake = FakeEvents()
    EventPublisher(fake).publish([])
    assert fake.calls == []


def test_failed_entries_raise_with_their_indexes_after_every_chunk_was_tried() -> None:
    fake = FakeEvents(fail={2: "ThrottlingException", 12: "InternalFailure"})

    with pytest.raises(PublishFailed) as info:
        EventPublisher(fake).publish(_entries(15))

    assert info.value.failed == (2, 12)
    assert len(fake.calls) == 2
    assert "ThrottlingException" in str(info.value)


def test_failure_count_without_entry_details_fails_the_whole_chunk() -> None:
    fake = FakeEvents(fail={1: "InternalFailure"}, omit_entries=True)

    with pytest.raises(PublishFailed) as info:
        EventPublisher(fake).publish(_entries(3))

    assert info.value.failed == (0, 1, 2)


@pytest.fixture
def aws(mocked_aws: None) -> tuple[Any, Any]:
    return boto3.client("events", region_name="eu-west-1"), boto3.client("sqs", region_name="eu-west-1")


def test_events_reach_a_rule_target_on_the_custom_bus(aws: tuple[Any, Any]) -> None:
    events, sqs = aws
    events.create_event_bus(Name="emrex")
    queue_url = sqs.create_queue(QueueName="sis")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName="emrex", EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="all", EventBusName="emrex", Targets=[{"Id": "q", "Arn": queue_arn}])

    EventPublisher(events).publish([build_event(DetailType.TRANSFER_CANCELLED, {"event_id": "e1"}, "emrex")])

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(messages[0]["Body"])
    assert body["detail-type"] == "EMREX Transfer Cancelled"
    assert body["detail"] == {"event_id": "e1"}
