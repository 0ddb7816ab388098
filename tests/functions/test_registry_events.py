"""Registry changes as events, end to end on moto: the refresh Lambda reads a catalogue file, queues
``EMREX EMP Added / Removed / Certificate Changed / Certificate Expiring`` in the outbox, and the relay
publishes them to the bus, where the operations rule (not the SIS rule) picks them up."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from emrex_emc.adapters.outbox import REGISTRY_OUTBOX_PREFIX, RegistryOutbox
from emrex_emc.adapters.registry_store import BASELINE_PK, BaselineStore, RegistryStore, item_size, snapshot_item
from emrex_emc.core.events import OPERATIONS_DETAIL_TYPES, SIS_DETAIL_TYPES
from emrex_emc.core.registry import Emp, RegistrySnapshot, emp_id
from emrex_emc.core.registry_emreg import render_emreg2_list
from emrex_emc.core.registry_parse import parse_registry, render_ewp_catalogue
from emrex_emc.services.registry_events import announce
from emrex_emc.services.registry_refresh import RefreshReport
from outbox_relay import handler as relay_handler
from registry_refresh import handler as refresh_handler
from tests.adapters.conftest import make_certificate
from tests.core.test_registry_changes import emrex2_emp, public_key
from tests.functions.callback_helpers import items_with_prefix, raw_item
from tests.functions.conftest import REGION, AwsEnv
from tests.functions.test_event_schemas import _schemas
from tests.functions.test_relay import Stream
from tests.lambda_context import LAMBDA_CONTEXT

NOW = datetime.now(UTC)
CERT_1, CERT_2, CERT_3 = (make_certificate(f"registry cert {n}") for n in range(3))
SOON = make_certificate("expires soon", not_after=NOW + timedelta(days=10))
EXPIRED = make_certificate("expired", not_after=NOW - timedelta(days=3))


def emp(name: str, country: str, url: str, *certs: bytes) -> Emp:
    return Emp(id=emp_id(country, url), name=name, url=url, country=country, certificates=certs)


NORWAY = emp("Vitnemålsportalen", "NO", "https://app.vitnemalsportalen.no/vp/init", CERT_1)
POLAND = emp("USOS", "PL", "https://usosweb.uw.edu.pl/ncp_endpoint.php", CERT_2)
FINLAND = emp("CSC", "FI", "https://emrex.csc.fi/emp", CERT_3)


@pytest.fixture
def catalogue(aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "catalogue-v1.xml"
    path.write_bytes(render_ewp_catalogue([NORWAY, POLAND]))
    monkeypatch.setenv("EMREX_REGISTRY_URL", str(path))
    refresh_handler.reset()
    relay_handler.reset()
    yield path
    refresh_handler.reset()
    relay_handler.reset()


def refresh(path: Path, emps: list[Emp] | None = None, raw: bytes | None = None) -> dict[str, Any]:
    if emps is not None or raw is not None:
        path.write_bytes(raw if raw is not None else render_ewp_catalogue(emps or []))
    result: dict[str, Any] = refresh_handler.handler({"force": True}, LAMBDA_CONTEXT)
    return result


def registry_events(env: AwsEnv) -> list[tuple[str, dict[str, Any]]]:
    rows = items_with_prefix(env.dynamodb, env.table, REGISTRY_OUTBOX_PREFIX)
    rows.sort(key=lambda row: (row["entry"]["DetailType"], row["entry"]["Detail"]))
    return [(row["entry"]["DetailType"], json.loads(row["entry"]["Detail"])) for row in rows]


def validate(detail_type: str, detail: dict[str, Any]) -> None:
    jsonschema.validate(detail, _schemas()[detail_type], format_checker=Draft202012Validator.FORMAT_CHECKER)


def shape(emp_: Emp) -> dict[str, str]:
    return {"id": emp_.id, "name": emp_.name, "country": emp_.country, "url": emp_.url, "protocol": "emrex-1"}


def test_the_first_load_announces_nothing_and_keeps_a_baseline(catalogue: Path, aws_env: AwsEnv) -> None:
    result = refresh(catalogue)
    assert result["events"]["comparison"] == "first_load"
    assert registry_events(aws_env) == []
    baseline = BaselineStore(aws_env.dynamodb, aws_env.table).load()
    assert baseline is not None and {e.id for e in baseline.emps} == {NORWAY.id, POLAND.id}


def test_added_removed_and_changed_are_announced_once_with_the_shared_emp_shape(
    catalogue: Path, aws_env: AwsEnv
) -> None:
    refresh(catalogue)
    rekeyed = replace(NORWAY, certificates=(CERT_1, CERT_3))
    refresh(catalogue, [rekeyed, FINLAND])  # Poland gone, Finland new, Norway has a second certificate
    refresh(catalogue)  # the same document again: nothing new

    events = registry_events(aws_env)
    assert [(kind, detail["emp"]["id"]) for kind, detail in events] == [
        ("EMREX EMP Added", FINLAND.id),
        ("EMREX EMP Certificate Changed", NORWAY.id),
        ("EMREX EMP Removed", POLAND.id),
    ]
    added, changed, removed = (detail for _, detail in events)
    assert added["emp"] == shape(FINLAND) and removed["emp"] == shape(POLAND)
    assert (added["old_fingerprints"], added["new_fingerprints"]) == ([], list(FINLAND.certificate_fingerprints()))
    assert (removed["old_fingerprints"], removed["new_fingerprints"]) == (list(POLAND.certificate_fingerprints()), [])
    assert changed["old_fingerprints"] == list(NORWAY.certificate_fingerprints())
    assert changed["new_fingerprints"] == sorted(rekeyed.certificate_fingerprints())
    assert {detail["key_type"] for _, detail in events} == {"certificate"}
    for kind, detail in events:
        validate(kind, detail)


def test_a_rotated_emreg2_public_key_is_announced_with_its_spki_fingerprints(
    catalogue: Path, aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMREG v2 (EMREX 2.0) EMPs are keyed by a public key, not certificates: a rotation is Certificate Changed
    with ``key_type`` ``public_key`` and the SHA-256 of the DER SubjectPublicKeyInfo before and after."""
    old_key, new_key = public_key(), public_key()
    listing = catalogue.with_name("emreg-v2.json")
    monkeypatch.setenv("EMREX_REGISTRY_URL", str(listing))
    listing.write_bytes(render_emreg2_list([emrex2_emp(old_key)]))
    (stored,) = parse_registry(listing.read_bytes()).emps
    refresh(listing)
    listing.write_bytes(render_emreg2_list([emrex2_emp(new_key)]))
    refresh(listing)

    ((kind, detail),) = registry_events(aws_env)
    assert (kind, detail["emp"]["id"], detail["key_type"]) == ("EMREX EMP Certificate Changed", stored.id, "public_key")
    assert detail["old_fingerprints"] == [hashlib.sha256(old_key).hexdigest()]
    assert detail["new_fingerprints"] == [hashlib.sha256(new_key).hexdigest()]
    assert detail["emp"] == {**shape(stored), "protocol": "emrex-2"}
    validate(kind, detail)


def test_an_emp_that_moves_is_removed_under_its_old_id_and_added_under_the_new(
    catalogue: Path, aws_env: AwsEnv
) -> None:
    refresh(catalogue)
    moved = replace(POLAND, url="https://usos.uw.edu.pl/emrex", id=emp_id("PL", "https://usos.uw.edu.pl/emrex"))
    refresh(catalogue, [NORWAY, moved])
    assert [(kind, d["emp"]["id"]) for kind, d in registry_events(aws_env)] == [
        ("EMREX EMP Added", moved.id),
        ("EMREX EMP Removed", POLAND.id),
    ]


def test_a_partial_refresh_announces_nothing_and_the_next_complete_one_compares_with_the_baseline(
    catalogue: Path, aws_env: AwsEnv
) -> None:
    refresh(catalogue)
    broken = replace(POLAND, url="http://usosweb.uw.edu.pl/plain-http")  # refused: skipped by the parser
    partial = refresh(catalogue, [NORWAY, broken])
    assert partial["events"]["comparison"] == "partial" and partial["emp_count"] == 1
    assert registry_events(aws_env) == []  # Poland's entry is unreadable, not gone

    complete = refresh(catalogue, [NORWAY])
    assert complete["events"]["comparison"] == "compared"
    assert [(kind, d["emp"]["id"]) for kind, d in registry_events(aws_env)] == [("EMREX EMP Removed", POLAND.id)]


def test_an_emp_left_out_to_fit_the_table_item_is_not_announced_as_removed(
    catalogue: Path, aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    refresh(catalogue)  # Norway and Poland: the baseline
    fits_one = item_size(snapshot_item(RegistrySnapshot(NOW, str(catalogue), (POLAND,)))) + 300
    monkeypatch.setattr(refresh_handler, "RegistryStore", partial(RegistryStore, max_item_bytes=fits_one))
    refresh_handler.reset()

    squeezed = refresh(catalogue)

    assert "error" not in squeezed and squeezed["emp_count"] == 1  # Norway, the larger, is left out
    assert squeezed["events"]["comparison"] == "partial"
    assert registry_events(aws_env) == []  # still in the registry: not removed

    monkeypatch.setattr(refresh_handler, "RegistryStore", RegistryStore)
    refresh_handler.reset()
    complete = refresh(catalogue)  # the same document, read whole again (the trimmed part forgot its ETag)
    assert (complete["emp_count"], complete["events"]["comparison"]) == (2, "compared")
    assert registry_events(aws_env) == []  # nor added again


def test_a_permanently_broken_entry_does_not_silence_the_other_changes(catalogue: Path, aws_env: AwsEnv) -> None:
    broken = replace(FINLAND, url="http://emrex.csc.fi/plain-http")
    refresh(catalogue, [NORWAY, broken])  # the first (complete as far as it goes) baseline
    refresh(catalogue, [NORWAY, broken, POLAND])
    assert [(kind, d["emp"]["id"]) for kind, d in registry_events(aws_env)] == [("EMREX EMP Added", POLAND.id)]


def test_expiring_and_expired_certificates_are_announced_once_a_day(catalogue: Path, aws_env: AwsEnv) -> None:
    soon = replace(NORWAY, certificates=(CERT_1, SOON))
    expired = replace(POLAND, certificates=(EXPIRED,))
    refresh(catalogue, [soon, expired])  # a first load: no changes, but expiry is checked on every refresh
    refresh(catalogue)
    refresh_handler.handler({}, LAMBDA_CONTEXT)  # not even fetched (cached): still checked, still once

    events = registry_events(aws_env)
    assert [kind for kind, _ in events] == ["EMREX EMP Certificate Expiring"] * 2  # not CERT_1 (a year left)
    for kind, detail in events:
        validate(kind, detail)
    by_emp = {detail["emp"]["id"]: detail for _, detail in events}
    assert by_emp[NORWAY.id]["certificate"]["days_left"] == 9  # 10 days minus the seconds since NOW
    assert by_emp[POLAND.id]["certificate"]["days_left"] == -4  # expired 3 days (and a few seconds) ago
    assert by_emp[NORWAY.id]["certificate"]["sha256"] == soon.certificate_fingerprints()[1]
    assert by_emp[NORWAY.id]["new_fingerprints"] == sorted(soon.certificate_fingerprints())


def test_a_new_day_announces_an_expiring_certificate_again(aws_env: AwsEnv) -> None:
    snapshot = RegistrySnapshot(fetched_at=NOW, source="test", emps=(replace(NORWAY, certificates=(SOON,)),))
    report = RefreshReport(status="not_modified", source="test", snapshot=snapshot)
    outbox = RegistryOutbox(aws_env.dynamodb, aws_env.table, event_bus_name=aws_env.bus)
    baselines = BaselineStore(aws_env.dynamodb, aws_env.table)
    queued = [
        announce(report, baselines=baselines, outbox=outbox, now=moment, warning_days=30).queued
        for moment in (NOW, NOW + timedelta(hours=1), NOW + timedelta(days=1))
    ]
    assert queued == [1, 0, 1]
    announce(report, baselines=baselines, outbox=outbox, now=NOW + timedelta(days=2), warning_days=5)
    assert len(registry_events(aws_env)) == 2  # 8 days left: outside a 5-day warning window


def test_queued_events_reach_the_operations_rule_and_never_the_sis(catalogue: Path, aws_env: AwsEnv) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name=REGION)
    queues = {}
    for name, detail_types in (("operations", OPERATIONS_DETAIL_TYPES), ("sis", SIS_DETAIL_TYPES)):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern = {"source": ["emrex.emc"], "detail-type": [d.value for d in detail_types]}
        aws_env.events.put_rule(Name=name, EventBusName=aws_env.bus, EventPattern=json.dumps(pattern))
        aws_env.events.put_targets(Rule=name, EventBusName=aws_env.bus, Targets=[{"Id": name, "Arn": arn}])
        queues[name] = url
    stream = Stream(aws_env)
    refresh(catalogue)
    refresh(catalogue, [NORWAY, POLAND, FINLAND])

    assert relay_handler.handler({"Records": stream.read()}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    received = {
        name: [
            json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        ]
        for name, url in queues.items()
    }
    assert [(e["detail-type"], e["detail"]["emp"]["id"]) for e in received["operations"]] == [
        ("EMREX EMP Added", FINLAND.id)
    ]
    assert received["sis"] == []
    (row,) = items_with_prefix(aws_env.dynamodb, aws_env.table, REGISTRY_OUTBOX_PREFIX)
    assert "published_at" in row


def test_the_relay_refuses_a_transfer_event_forged_under_the_registry_prefix(aws_env: AwsEnv) -> None:
    relay_handler.reset()
    stream = Stream(aws_env)
    forged = {
        "pk": {"S": f"{REGISTRY_OUTBOX_PREFIX}forged"},
        "event_id": {"S": "forged"},
        "entry": {
            "M": {
                "Source": {"S": "emrex.emc"},
                "DetailType": {"S": "EMREX Results Received"},
                "Detail": {"S": "{}"},
                "EventBusName": {"S": aws_env.bus},
            }
        },
    }
    aws_env.dynamodb.put_item(TableName=aws_env.table, Item=forged)
    (record,) = stream.read()
    response = relay_handler.handler({"Records": [record]}, LAMBDA_CONTEXT)
    assert response == {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
    assert "published_at" not in raw_item(aws_env.dynamodb, aws_env.table, f"{REGISTRY_OUTBOX_PREFIX}forged")


def test_events_that_could_not_be_queued_are_queued_by_the_next_refresh(
    catalogue: Path, aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    refresh(catalogue)
    failing = {"left": 1}
    real_add = RegistryOutbox.add

    def add_once_failing(self: RegistryOutbox, events: Any, *, now: int) -> int:
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("DynamoDB is having a bad day")
        return real_add(self, events, now=now)

    monkeypatch.setattr(RegistryOutbox, "add", add_once_failing)
    with pytest.raises(RuntimeError):
        refresh(catalogue, [NORWAY])
    assert registry_events(aws_env) == []
    baseline = BaselineStore(aws_env.dynamodb, aws_env.table).load()
    assert baseline is not None and len(baseline.emps) == 2  # not moved on: the change is still to announce

    refresh(catalogue)
    assert [(kind, d["emp"]["id"]) for kind, d in registry_events(aws_env)] == [("EMREX EMP Removed", POLAND.id)]
    assert raw_item(aws_env.dynamodb, aws_env.table, BASELINE_PK) is not None


def test_the_baseline_of_a_concurrent_refresh_is_not_overwritten(aws_env: AwsEnv) -> None:
    store = BaselineStore(aws_env.dynamodb, aws_env.table)
    snapshot = RegistrySnapshot(fetched_at=NOW, source="test", emps=(NORWAY,))
    first = replace_baseline(store, snapshot, None)
    second = replace_baseline(store, replace(snapshot, fetched_at=NOW + timedelta(minutes=1), emps=(POLAND,)), first)
    assert second is not None
    assert replace_baseline(store, replace(snapshot, emps=(FINLAND,)), first) is None  # it read an older one
    stored = store.load()
    assert stored is not None and [e.id for e in stored.emps] == [POLAND.id]


def replace_baseline(store: BaselineStore, snapshot: RegistrySnapshot, replacing: Any) -> Any:
    from emrex_emc.core.registry_events import RegistryBaseline

    baseline = RegistryBaseline.of(snapshot.fetched_at, snapshot.emps, 0)
    return baseline if store.save(baseline, replacing=replacing) else None


def test_the_snapshot_store_keeps_the_unread_count(aws_env: AwsEnv) -> None:
    store = RegistryStore(aws_env.dynamodb, aws_env.table, cache_seconds=0)
    store.save(RegistrySnapshot(fetched_at=NOW, source="test", emps=(NORWAY,), unread=3))
    stored = store.load()
    assert stored is not None and stored.unread == 3
