"""``DELETE /applicants/{applicant_id}`` on moto: nothing of the person is left in the table or the bucket (old
object versions and delete markers included), a tombstone and an audit record stay, ``EMREX Applicant Erased``
is published, late callbacks and relay retries store and publish nothing, other applicants are untouched."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from admin_api import handler as admin_handler
from callback import handler as callback_handler
from emrex_emc.adapters.aws import client as aws_client
from emrex_emc.adapters.dynamodb import deserialize_item
from emrex_emc.adapters.sessions import session_pk
from emrex_emc.core.transfer import Transfer
from enrolment_api import handler as enrolment_handler
from outbox_relay import handler as relay_handler
from tests.functions.callback_helpers import callback_event, form_for, ok_payload, s3_keys, state_for, trusted_emp
from tests.functions.conftest import AwsEnv, apigw_event
from tests.functions.test_event_schemas import _schemas
from tests.functions.test_relay import Sis, Stream
from tests.lambda_context import LAMBDA_CONTEXT

APPLICANT = "a/b+c"
OTHER = "B-2002"


@dataclass(frozen=True)
class World:
    env: AwsEnv
    erased: dict[str, Transfer]
    """The applicant's transfers: received (with an attachment), rejected, pending (EMP chosen)."""
    other: Transfer
    records: list[dict[str, Any]]
    """The stream records written before the erasure (outbox rows not relayed yet)."""
    sis: Sis


def handlers_reset() -> None:
    for module in (admin_handler, callback_handler, enrolment_handler, relay_handler):
        module.reset()


@pytest.fixture
def world(aws_env: AwsEnv, make_transfer: Callable[..., Transfer]) -> Iterator[World]:
    handlers_reset()
    aws_env.s3.put_bucket_versioning(Bucket=aws_env.bucket, VersioningConfiguration={"Status": "Enabled"})
    stream, sis = Stream(aws_env), Sis(aws_env)
    emp = trusted_emp()
    received = make_transfer(emp=emp, applicant_id=APPLICANT)
    rejected = make_transfer(emp=emp, applicant_id=APPLICANT)
    pending = make_transfer(emp=emp, applicant_id=APPLICANT)
    other = make_transfer(emp=emp, applicant_id=OTHER, given_names="Ola", family_name="Hansen")
    for transfer, payload in (
        (received, ok_payload()),
        (rejected, ok_payload().replace("A", "B", 5)),
        (other, ok_payload()),
    ):
        response = callback_handler.handler(
            callback_event(state_for(aws_env.signer, transfer), form_for(transfer, "NCP_OK", payload)), LAMBDA_CONTEXT
        )
        assert response["statusCode"] == 200
    # older object versions and a delete marker: every one of them must go
    results_key = f"transfers/{received.id}/results.json"
    aws_env.s3.put_object(Bucket=aws_env.bucket, Key=results_key, Body=b'{"an": "older version"}')
    aws_env.s3.put_object(Bucket=aws_env.bucket, Key=results_key, Body=b'{"the": "current version"}')
    attachment = next(k for k in s3_keys(aws_env.s3, aws_env.bucket) if k.startswith(f"transfers/{received.id}/att"))
    aws_env.s3.delete_object(Bucket=aws_env.bucket, Key=attachment)
    yield World(
        env=aws_env,
        erased={"received": received, "rejected": rejected, "pending": pending},
        other=other,
        records=stream.read(),
        sis=sis,
    )
    handlers_reset()


def delete(applicant_path: str, token: str | None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    event = apigw_event(
        "DELETE",
        f"/applicants/{applicant_path}",
        route_key="DELETE /applicants/{applicant_id}",
        path_params={"applicant_id": applicant_path},
        headers=headers,
    )
    response: dict[str, Any] = admin_handler.handler(event, LAMBDA_CONTEXT)
    return response


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def items(env: AwsEnv) -> list[dict[str, Any]]:
    return [deserialize_item(item) for item in env.dynamodb.scan(TableName=env.table, ConsistentRead=True)["Items"]]


def versions(env: AwsEnv, transfer_id: str) -> list[dict[str, Any]]:
    listed = env.s3.list_object_versions(Bucket=env.bucket, Prefix=f"transfers/{transfer_id}/")
    return [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]


def traces_of_the_person(world: World) -> list[str]:
    """Everything stored that names or describes the erased applicant: must be nothing."""
    erased = world.erased.values()
    needles = [APPLICANT, "Kari", "Nordmann", "1998-04-03", "uni.example/enrol"]
    needles += [t.emrex_session_id or "" for t in erased]
    found = []
    other_keys = {session_pk(world.other.id), f"AUDIT#{world.other.id}"}
    for item in items(world.env):
        if item["pk"] in other_keys or item.get("transfer_id") == world.other.id:
            continue
        text = json.dumps(item, default=str)
        found += [f"{item['pk']}: {needle}" for needle in needles if needle in text]
    return found


def test_erasure_leaves_nothing_of_the_person_in_the_table_or_the_bucket(world: World) -> None:
    env = world.env
    assert traces_of_the_person(world) != []  # the check can see the person before
    assert all(versions(env, t.id) for t in (world.erased["received"], world.erased["rejected"]))

    response = delete(quote(APPLICANT, safe=""), env.admin_token)

    assert response["statusCode"] == 202
    ids = sorted(t.id for t in world.erased.values())
    assert body(response)["erased"] == 3
    assert sorted(body(response)["session_ids"]) == ids
    assert traces_of_the_person(world) == []
    for transfer in world.erased.values():
        assert versions(env, transfer.id) == []  # every version, every delete marker
    statuses = {}
    for item in items(env):
        if item["pk"].startswith("SESSION#") and item["id"] in ids:
            assert set(item) == {"pk", "id", "status", "erased_at", "kind", "expires_at"}  # the tombstone
            statuses[item["id"]] = item["status"]
    erased = world.erased
    assert statuses == {erased[status].id: status for status in ("received", "rejected", "pending")}
    audit = next(i for i in items(env) if i["pk"] == f"AUDIT#{world.erased['received'].id}")
    assert "erased_at" in audit and "applicant_id" not in audit and "payload_sha256" not in audit
    assert audit["signature_algorithm"] == "rsa-sha256"  # what is not personal stays for the record
    (erasure,) = [i for i in items(env) if i["pk"].startswith("ERASURE#")]
    assert sorted(erasure["session_ids"]) == ids and erasure["erased"] == 3 and erasure["request_id"] == "req-1"
    assert not [i for i in items(env) if i["pk"].startswith("OUTBOX#") and i.get("transfer_id") in ids]


def test_the_other_applicant_is_untouched(world: World) -> None:
    env, other = world.env, world.other
    before_item = env.dynamodb.get_item(TableName=env.table, Key={"pk": {"S": session_pk(other.id)}})["Item"]
    before_objects = versions(env, other.id)
    delete(quote(APPLICANT, safe=""), env.admin_token)
    assert env.dynamodb.get_item(TableName=env.table, Key={"pk": {"S": session_pk(other.id)}})["Item"] == before_item
    assert versions(env, other.id) == before_objects


def test_the_erasure_is_announced_to_the_sis_and_then_nothing_else_about_the_erased_transfers(world: World) -> None:
    env = world.env
    delete(quote(APPLICANT, safe=""), env.admin_token)

    # a relay retry of the batch written before the erasure: only the other applicant's outcome goes out
    assert relay_handler.handler({"Records": world.records}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    delivered = world.sis.drain()
    erased_ids = sorted(t.id for t in world.erased.values())
    kinds = sorted((e["detail-type"], e["detail"].get("session_id")) for e in delivered)
    assert kinds == [("EMREX Applicant Erased", None), ("EMREX Results Received", world.other.id)]
    (announcement,) = [e["detail"] for e in delivered if e["detail-type"] == "EMREX Applicant Erased"]
    assert (announcement["applicant_id"], announcement["session_ids"]) == (APPLICANT, erased_ids)
    jsonschema.validate(
        announcement, _schemas()["EMREX Applicant Erased"], format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def test_afterwards_the_transfers_are_not_found_and_a_late_callback_stores_nothing(world: World) -> None:
    env = world.env
    delete(quote(APPLICANT, safe=""), env.admin_token)
    for transfer in world.erased.values():
        response = enrolment_handler.handler(
            apigw_event(
                "GET",
                f"/sessions/{transfer.id}",
                route_key="GET /sessions/{id}",
                path_params={"id": transfer.id},
                headers={"authorization": f"Bearer {env.api_token}"},
            ),
            LAMBDA_CONTEXT,
        )
        assert response["statusCode"] == 404

    pending = world.erased["pending"]
    stream = Stream(env)
    stream.read()
    late = callback_handler.handler(
        callback_event(state_for(env.signer, pending), form_for(pending, "NCP_OK", ok_payload())), LAMBDA_CONTEXT
    )
    assert late["statusCode"] == 404
    assert versions(env, pending.id) == [] and stream.read() == []  # nothing written at all
    assert traces_of_the_person(world) == []


def test_erasure_is_idempotent(world: World) -> None:
    env = world.env
    first = delete(quote(APPLICANT, safe=""), env.admin_token)
    table_after_first = sorted(json.dumps(i, sort_keys=True, default=str) for i in items(env))
    again = delete(quote(APPLICANT, safe=""), env.admin_token)
    assert (first["statusCode"], again["statusCode"]) == (202, 202)
    assert body(again) == {"erased": 0, "session_ids": []}
    assert sorted(json.dumps(i, sort_keys=True, default=str) for i in items(env)) == table_after_first
    assert [e["detail-type"] for e in world.sis.drain()] == ["EMREX Applicant Erased"]  # announced once


@pytest.mark.parametrize(
    "path",
    [
        quote(APPLICANT, safe=""),  # a%2Fb%2Bc, undecoded (or encoded twice and decoded once on the way)
        quote(quote(APPLICANT, safe=""), safe=""),  # encoded twice, not decoded on the way
        APPLICANT,  # decoded by API Gateway
    ],
    ids=["encoded", "encoded-twice", "decoded"],
)
def test_the_applicant_id_is_percent_decoded_and_a_plus_stays_a_plus(world: World, path: str) -> None:
    response = delete(path, world.env.admin_token)
    assert (response["statusCode"], body(response)["erased"]) == (202, 3)


@pytest.mark.parametrize(
    "path",
    ["a%2Fb%20c", "a%2Fb c", "a%2Fb%2Bc%20", "%ZZ", "", "a" * 129, "a%25252Fb"],  # the last: encoded 3 times
)
def test_a_parameter_that_is_no_applicant_id_is_refused(world: World, path: str) -> None:
    response = delete(path, world.env.admin_token)
    assert (response["statusCode"], body(response)["error"]["code"]) == (400, "VALIDATION_FAILED")
    assert body(response)["error"]["field"] == "applicant_id"
    assert traces_of_the_person(world) != []


def test_an_id_differing_only_in_case_erases_nobody(world: World) -> None:
    assert body(delete("A%2Fb%2Bc", world.env.admin_token)) == {"erased": 0, "session_ids": []}
    assert traces_of_the_person(world) != []


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [(None, 401, "UNAUTHORIZED"), ("nope-nope-nope-nope", 401, "UNAUTHORIZED"), ("api", 403, "FORBIDDEN")],
)
def test_only_the_admin_token_erases(world: World, token: str | None, status: int, code: str) -> None:
    response = delete(quote(APPLICANT, safe=""), world.env.api_token if token == "api" else token)
    assert (response["statusCode"], body(response)["error"]["code"]) == (status, code)
    assert traces_of_the_person(world) != []


def test_without_an_admin_token_in_the_secret_nobody_erases(world: World) -> None:
    from tests.functions.conftest import secret_json

    secret = json.loads(secret_json())
    del secret["admin_token"]
    world.env.secretsmanager.put_secret_value(SecretId=world.env.secret, SecretString=json.dumps(secret))
    admin_handler.reset()
    response = delete(quote(APPLICANT, safe=""), world.env.admin_token)
    assert response["statusCode"] == 401


def test_a_bus_that_refuses_the_announcement_stops_the_erasure_before_anything_is_erased(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    class RefusingEvents:
        def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:
            return {"FailedEntryCount": len(Entries), "Entries": [{"ErrorCode": "InternalFailure"} for _ in Entries]}

    with monkeypatch.context() as patch:
        patch.setattr(admin_handler, "client", lambda s: RefusingEvents() if s == "events" else aws_client(s))
        admin_handler.reset()
        response = delete(quote(APPLICANT, safe=""), world.env.admin_token)
    assert (response["statusCode"], body(response)["error"]["code"]) == (503, "STORAGE_UNAVAILABLE")
    assert all(versions(world.env, t.id) for t in (world.erased["received"], world.erased["rejected"]))
    admin_handler.reset()
    assert body(delete(quote(APPLICANT, safe=""), world.env.admin_token))["erased"] == 3  # the retry erases


def test_an_outcome_stored_while_erasing_is_erased_too(aws_env: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    """A callback that lands between the eraser's read and its tombstone: the tombstone's condition fails,
    the eraser reads again and erases the outcome, its outbox row and its objects as well."""
    from emrex_emc.adapters.erasure import TransferEraser

    callback_handler.reset()
    transfer = make_transfer(emp=trusted_emp(), applicant_id=APPLICANT)

    class CallbackMeanwhile:
        def __init__(self, real: Any) -> None:
            self.real, self.landed = real, False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def transact_write_items(self, **kwargs: Any) -> Any:
            if not self.landed:
                self.landed = True
                event = callback_event(state_for(aws_env.signer, transfer), form_for(transfer, "NCP_OK", ok_payload()))
                assert callback_handler.handler(event, LAMBDA_CONTEXT)["statusCode"] == 200
            return self.real.transact_write_items(**kwargs)

    racing = CallbackMeanwhile(aws_env.dynamodb)
    assert TransferEraser(racing, aws_env.s3, aws_env.table, aws_env.bucket).erase(transfer.id, now=1, keep_until=2)
    assert racing.landed
    assert versions(aws_env, transfer.id) == []
    leftovers = [i for i in items(aws_env) if transfer.id in json.dumps(i) and "applicant_id" in i]
    assert leftovers == [] and not [i for i in items(aws_env) if i["pk"].startswith("OUTBOX#")]
    callback_handler.reset()


class Recording:
    """A client that records which operations it was asked for and can run something before one of them."""

    def __init__(self, real: Any, before: dict[str, Callable[[], None]] | None = None) -> None:
        self.real, self.before = real, dict(before or {})
        self.called: list[str] = []

    def __getattr__(self, name: str) -> Any:
        operation = getattr(self.real, name)
        if not callable(operation):
            return operation

        def call(**kwargs: Any) -> Any:
            self.called.append(name)
            hook = self.before.pop(name, None)
            if hook is not None:
                hook()
            return operation(**kwargs)

        return call


def callback_clients(monkeypatch: pytest.MonkeyPatch, **clients: Recording) -> None:
    """The callback's clients from now on (the others as they are)."""
    monkeypatch.setattr(callback_handler, "client", lambda name: clients.get(name) or aws_client(name))
    callback_handler.reset()


def post_callback(env: AwsEnv, transfer: Transfer) -> dict[str, Any]:
    event = callback_event(state_for(env.signer, transfer), form_for(transfer, "NCP_OK", ok_payload()))
    response: dict[str, Any] = callback_handler.handler(event, LAMBDA_CONTEXT)
    return response


def assert_erased_and_nothing_published(env: AwsEnv, transfer: Transfer, stream: Stream) -> None:
    (stored,) = [i for i in items(env) if i["pk"] == session_pk(transfer.id)]
    assert "erased_at" in stored and "applicant_id" not in stored and "outcome" not in stored
    assert not [i for i in items(env) if i["pk"].startswith("OUTBOX#")]
    # moto's stream also carries the writes of the cancelled transaction; the relay publishes none of them
    sis = Sis(env)
    assert relay_handler.handler({"Records": stream.read()}, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    assert sis.drain() == []


def test_evidence_written_between_the_erasures_first_sweep_and_its_tombstone_is_removed_by_its_second_sweep(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The eraser sweeps (nothing yet); before its transaction a callback reads the transfer (pending) and
    writes every object; the tombstone goes in just before the callback's outcome write, which fails on it:
    the callback answers its refusal and deletes nothing, the eraser's second sweep removes every version."""
    from emrex_emc.adapters.erasure import TransferEraser

    aws_env.s3.put_bucket_versioning(Bucket=aws_env.bucket, VersioningConfiguration={"Status": "Enabled"})
    transfer = make_transfer(emp=trusted_emp(), applicant_id=APPLICANT)
    stream = Stream(aws_env)
    stream.read()
    eraser_s3 = Recording(aws_env.s3)
    tombstone: list[dict[str, Any]] = []  # the eraser's transaction, held until the callback's outcome write
    committed: list[Any] = []
    answers: list[dict[str, Any]] = []

    def tombstone_first() -> None:
        committed.append(aws_env.dynamodb.transact_write_items(**tombstone.pop()))

    callback_s3 = Recording(aws_env.s3)
    callback_clients(
        monkeypatch, s3=callback_s3, dynamodb=Recording(aws_env.dynamodb, {"transact_write_items": tombstone_first})
    )

    class EraserTransaction:
        """The eraser's transaction call: the whole callback runs first, and the tombstone commits inside it."""

        def __getattr__(self, name: str) -> Any:
            return getattr(aws_env.dynamodb, name)

        def transact_write_items(self, **kwargs: Any) -> Any:
            assert versions(aws_env, transfer.id) == [] and "list_object_versions" in eraser_s3.called
            tombstone.append(kwargs)
            answers.append(post_callback(aws_env, transfer))
            assert len(versions(aws_env, transfer.id)) >= 3  # payload, results, attachment: after the first sweep
            (result,) = committed
            return result

    eraser = TransferEraser(EraserTransaction(), eraser_s3, aws_env.table, aws_env.bucket)
    assert eraser.erase(transfer.id, now=int(time.time()), keep_until=int(time.time()) + 86400)
    handlers_reset()

    (answer,) = answers
    assert answer["statusCode"] == 409 and "SESSION_ALREADY_COMPLETED" in answer["body"]
    assert "put_object" in callback_s3.called and not [c for c in callback_s3.called if "delete" in c]
    assert versions(aws_env, transfer.id) == []  # every version the callback wrote: by the second sweep
    assert eraser_s3.called.count("list_object_versions") == 2
    assert_erased_and_nothing_published(aws_env, transfer, stream)


def test_an_erasure_while_the_callback_verifies_leaves_no_evidence_behind(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verifying takes time; the callback reads the transfer again right before writing its evidence, so an
    erasure in that time (both its sweeps find nothing yet) is not followed by an orphan upload."""
    from emrex_emc.adapters.erasure import TransferEraser
    from emrex_emc.core import pipeline

    aws_env.s3.put_bucket_versioning(Bucket=aws_env.bucket, VersioningConfiguration={"Status": "Enabled"})
    transfer = make_transfer(emp=trusted_emp(), applicant_id=APPLICANT)
    stream = Stream(aws_env)
    stream.read()
    real_verify = pipeline.verify_elmo

    def verify_while_erased(*args: Any, **kwargs: Any) -> Any:
        now = int(time.time())
        assert TransferEraser(aws_env.dynamodb, aws_env.s3, aws_env.table, aws_env.bucket).erase(
            transfer.id, now=now, keep_until=now + 86400
        )
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(pipeline, "verify_elmo", verify_while_erased)
    callback_s3 = Recording(aws_env.s3)
    callback_clients(monkeypatch, s3=callback_s3)
    answer = post_callback(aws_env, transfer)
    handlers_reset()

    assert answer["statusCode"] in {404, 409}
    assert "put_object" not in callback_s3.called  # it was about to upload the signed document
    assert versions(aws_env, transfer.id) == []
    assert_erased_and_nothing_published(aws_env, transfer, stream)


def test_evidence_a_callback_writes_after_the_second_sweep_stays_for_the_lifecycle_and_the_callback_deletes_nothing(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The residual window: a callback read the transfer before the erasure, and its first write lands after
    the whole erasure (both sweeps). Its outcome write fails on the tombstone: it answers its refusal, stores
    and publishes nothing, and deletes nothing (its role cannot): the objects wait for the lifecycle rule."""
    from emrex_emc.adapters.erasure import TransferEraser

    aws_env.s3.put_bucket_versioning(Bucket=aws_env.bucket, VersioningConfiguration={"Status": "Enabled"})
    transfer = make_transfer(emp=trusted_emp(), applicant_id=APPLICANT)
    stream = Stream(aws_env)
    stream.read()
    eraser_s3 = Recording(aws_env.s3)

    def erase() -> None:
        now = int(time.time())
        assert TransferEraser(aws_env.dynamodb, eraser_s3, aws_env.table, aws_env.bucket).erase(
            transfer.id, now=now, keep_until=now + 86400
        )

    callback_s3 = Recording(aws_env.s3, {"put_object": erase})
    callback_clients(monkeypatch, s3=callback_s3)
    answer = post_callback(aws_env, transfer)
    handlers_reset()

    assert answer["statusCode"] == 409 and "SESSION_ALREADY_COMPLETED" in answer["body"]
    assert eraser_s3.called.count("list_object_versions") == 2
    assert not [c for c in callback_s3.called if "delete" in c]
    assert {v["Key"].rsplit("/", 2)[-1] for v in versions(aws_env, transfer.id)} >= {"payload.txt", "results.json"}
    assert_erased_and_nothing_published(aws_env, transfer, stream)


def test_a_failed_second_sweep_still_counts_the_transfer_erased_and_is_logged(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], caplog: pytest.LogCaptureFixture
) -> None:
    """The tombstone is in and no retry could find the transfer again: the erasure goes on, the log says so."""
    from botocore.exceptions import ClientError

    from emrex_emc.adapters.erasure import TransferEraser

    transfer = make_transfer(emp=trusted_emp(), applicant_id=APPLICANT)

    def slow_down() -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "List")

    eraser_s3 = Recording(aws_env.s3)
    eraser_ddb = Recording(aws_env.dynamodb)
    eraser_ddb.before["transact_write_items"] = lambda: eraser_s3.before.update(list_object_versions=slow_down)
    with caplog.at_level("ERROR", logger="emrex_emc.adapters.erasure"):
        assert TransferEraser(eraser_ddb, eraser_s3, aws_env.table, aws_env.bucket).erase(
            transfer.id, now=1, keep_until=2
        )
    assert eraser_s3.called.count("list_object_versions") == 2
    (stored,) = [i for i in items(aws_env) if i["pk"] == session_pk(transfer.id)]
    assert "erased_at" in stored and "applicant_id" not in stored
    (record,) = caplog.records
    assert record.levelname == "ERROR" and "not swept again" in record.getMessage()
    assert record.__dict__["transfer_id"] == transfer.id and record.__dict__["error"] == "ClientError"
