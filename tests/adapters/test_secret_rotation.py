"""The rotation steps against moto's Secrets Manager (version stages AWSPENDING / AWSCURRENT), and the
pure edits: which state keys are kept, the api_token rollover."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from emrex_emc.adapters.secret_rotation import (
    MAX_STATE_KEYS,
    RotationError,
    SecretRotation,
    key_created_at,
    new_state_key_id,
    retired_key_window,
    with_new_admin_token,
    with_new_api_token,
    with_new_state_key,
    without_previous_api_token,
)
from emrex_emc.adapters.secrets import load_secret_bundle
from emrex_emc.core.secret import parse_secret_bundle
from tests.clock import ManualClock

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
WINDOW = retired_key_window(1800, 300)
KEY = base64.b64encode(b"\x01" * 32).decode()
TOKEN = "t" * 48
INITIAL = {"state_key_id": "k1", "state_keys": {}, "api_token": TOKEN}  # as the stack creates it


def stamped(seconds_ago: float) -> str:
    return new_state_key_id(NOW - seconds_ago)


# --- pure: the new key and the keys kept ------------------------------------------------------------------


def test_key_ids_carry_their_creation_time() -> None:
    assert new_state_key_id(NOW) == "k20270115T080000Z"
    assert key_created_at("k20270115T080000Z") == NOW
    assert key_created_at("k1") is None and key_created_at("k20271315T080000Z") is None
    assert retired_key_window(1800, 300) == 1800 + 300 + 600


def test_the_first_rotation_fills_the_empty_secret_of_the_stack() -> None:
    content = with_new_state_key(INITIAL, now=NOW, keep_retired_seconds=WINDOW)
    bundle = parse_secret_bundle(json.dumps(content))
    assert bundle.state_key_id == "k20270115T080000Z" and list(bundle.state_keys) == [bundle.state_key_id]
    assert len(bundle.state_keys[bundle.state_key_id]) == 32
    assert bundle.api_token == TOKEN  # kept: generated only when absent


def test_an_api_token_is_generated_only_when_absent() -> None:
    content = with_new_state_key({"state_keys": {}}, now=NOW, keep_retired_seconds=WINDOW)
    assert len(content["api_token"]) == 48
    again = with_new_state_key(content, now=NOW + 1, keep_retired_seconds=WINDOW)
    assert again["api_token"] == content["api_token"]


def test_an_admin_token_is_generated_only_when_absent_and_rotated_on_request() -> None:
    content = with_new_state_key(INITIAL, now=NOW, keep_retired_seconds=WINDOW)
    assert len(content["admin_token"]) == 48 and content["admin_token"] != content["api_token"]
    again = with_new_state_key(content, now=NOW + 1, keep_retired_seconds=WINDOW)
    assert again["admin_token"] == content["admin_token"]
    rotated = with_new_admin_token(again)
    assert rotated["admin_token"] != again["admin_token"] and rotated["api_token"] == again["api_token"]
    assert parse_secret_bundle(json.dumps(rotated)).admin_tokens() == (rotated["admin_token"],)


def test_each_rotation_makes_a_new_random_key() -> None:
    first = with_new_state_key(INITIAL, now=NOW, keep_retired_seconds=WINDOW)
    second = with_new_state_key(first, now=NOW + 60, keep_retired_seconds=WINDOW)
    assert second["state_key_id"] == stamped(-60)
    assert second["state_keys"][stamped(0)] == first["state_keys"][stamped(0)]  # the previous key verifies
    assert second["state_keys"][stamped(-60)] != first["state_keys"][stamped(0)]


def test_keys_retired_longer_ago_than_the_window_are_dropped() -> None:
    # A signed 40 days ago, replaced by B 10 days ago, replaced by C (current) a few minutes ago.
    a, b, c = stamped(40 * 86400), stamped(10 * 86400), stamped(300)
    content = {"state_keys": {a: KEY, b: KEY, c: KEY}, "state_key_id": c, "api_token": TOKEN}
    rotated = with_new_state_key(content, now=NOW, keep_retired_seconds=WINDOW)
    # A retired 10 days ago: dropped. B retired 5 minutes ago: states it signed may still come back. C signed until now.
    assert set(rotated["state_keys"]) == {b, c, new_state_key_id(NOW)}


def test_a_key_is_kept_until_the_window_has_passed_since_it_stopped_signing() -> None:
    old, current = stamped(90 * 86400), stamped(WINDOW - 1)
    content = {"state_keys": {old: KEY, current: KEY}, "state_key_id": current, "api_token": TOKEN}
    assert old in with_new_state_key(content, now=NOW, keep_retired_seconds=WINDOW)["state_keys"]
    content = {**content, "state_keys": {old: KEY, stamped(WINDOW): KEY}, "state_key_id": stamped(WINDOW)}
    assert old not in with_new_state_key(content, now=NOW, keep_retired_seconds=WINDOW)["state_keys"]


def test_hand_made_key_ids_count_as_older_than_every_generated_one() -> None:
    # An upgraded deployment: k1 was added by hand; the first rotation keeps it (it signed until now) ...
    first = with_new_state_key({**INITIAL, "state_keys": {"k1": KEY}}, now=NOW, keep_retired_seconds=WINDOW)
    assert set(first["state_keys"]) == {"k1", stamped(0)}
    # ... and the scheduled rotation 30 days later drops it (it stopped signing 30 days ago).
    later = with_new_state_key(first, now=NOW + 30 * 86400, keep_retired_seconds=WINDOW)
    assert set(later["state_keys"]) == {stamped(0), new_state_key_id(NOW + 30 * 86400)}


def test_never_more_than_max_state_keys() -> None:
    content = dict(INITIAL)
    for minute in range(10):  # ten rotations within the window
        content = with_new_state_key(content, now=NOW + 60 * minute, keep_retired_seconds=WINDOW)
    assert len(content["state_keys"]) == MAX_STATE_KEYS
    newest = {new_state_key_id(NOW + 60 * minute) for minute in range(10 - MAX_STATE_KEYS, 10)}
    assert set(content["state_keys"]) == newest


def test_two_rotations_in_one_second_are_refused() -> None:
    first = with_new_state_key(INITIAL, now=NOW, keep_retired_seconds=WINDOW)
    with pytest.raises(RotationError, match="exists already"):
        with_new_state_key(first, now=NOW + 0.5, keep_retired_seconds=WINDOW)


@pytest.mark.parametrize("content", [{"state_keys": []}, {"state_keys": "x"}])
def test_state_keys_that_are_not_an_object_are_refused(content: dict[str, Any]) -> None:
    with pytest.raises(RotationError, match="state_keys"):
        with_new_state_key(content, now=NOW, keep_retired_seconds=WINDOW)


# --- pure: the api_token rollover ----------------------------------------------------------------------------


def test_api_token_rollover_and_drop() -> None:
    content = with_new_state_key(INITIAL, now=NOW, keep_retired_seconds=WINDOW)
    rolled = with_new_api_token(content)
    assert rolled["api_token_previous"] == TOKEN and rolled["api_token"] not in {TOKEN, ""}
    assert len(rolled["api_token"]) == 48 and rolled["state_keys"] == content["state_keys"]
    with pytest.raises(RotationError, match="drop it first"):
        with_new_api_token(rolled)  # the enrolment system may still use api_token_previous
    dropped = without_previous_api_token(rolled)
    assert "api_token_previous" not in dropped and dropped["api_token"] == rolled["api_token"]
    with pytest.raises(RotationError, match="nothing to drop"):
        without_previous_api_token(dropped)
    with pytest.raises(RotationError, match="no api_token to roll over"):
        with_new_api_token({"state_keys": {}})


# --- the four steps against moto ------------------------------------------------------------------------------


@pytest.fixture
def client(mocked_aws: None) -> Iterator[Any]:
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    yield client


@pytest.fixture
def secret_arn(client: Any) -> str:
    arn: str = client.create_secret(Name="emrex", SecretString=json.dumps(INITIAL))["ARN"]
    return arn


def stages(client: Any, arn: str) -> dict[str, list[str]]:
    return {v: s for v, s in client.describe_secret(SecretId=arn)["VersionIdsToStages"].items() if s}


def event(arn: str, step: str, token: str) -> dict[str, str]:
    return {"SecretId": arn, "ClientRequestToken": token, "Step": step}


def test_create_puts_a_pending_version_and_finish_makes_it_current(client: Any, secret_arn: str) -> None:
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=ManualClock(NOW))
    token = "11111111-2222-3333-4444-555555555555"
    rotation.create_secret(token)  # RotateSecret's first call
    assert stages(client, secret_arn)[token] == ["AWSPENDING"]
    with pytest.raises(Exception, match="state_keys must be a non-empty"):
        load_secret_bundle(client, secret_arn)  # nothing changed for the functions yet
    for step in ("setSecret", "testSecret", "finishSecret"):  # Secrets Manager's next calls
        rotation.handle_event(event(secret_arn, step, token))
    assert stages(client, secret_arn)[token] == ["AWSCURRENT"]  # AWSPENDING taken off: nothing in progress
    bundle = load_secret_bundle(client, secret_arn)
    assert bundle.state_key_id == new_state_key_id(NOW) and bundle.api_token == TOKEN


def test_every_step_is_idempotent(client: Any, secret_arn: str) -> None:
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=ManualClock(NOW))
    token = "aaaaaaaa-2222-3333-4444-555555555555"
    rotation.create_secret(token)
    pending = client.get_secret_value(SecretId=secret_arn, VersionStage="AWSPENDING")["SecretString"]
    for step in ("createSecret", "createSecret", "setSecret", "testSecret", "testSecret", "finishSecret"):
        rotation.handle_event(event(secret_arn, step, token))
    rotation.handle_event(event(secret_arn, "finishSecret", token))  # a retried finish
    rotation.handle_event(event(secret_arn, "createSecret", token))  # a late retry: finished, nothing to do
    current = client.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")
    assert current["VersionId"] == token and current["SecretString"] == pending  # the key was made once


def test_rotating_twice_keeps_the_key_that_signed_until_now(client: Any, secret_arn: str) -> None:
    clock = ManualClock(NOW)
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=clock)
    first = rotation.rotate_now()
    clock.now += 30 * 86400
    second = rotation.rotate_now()
    assert second.state_key_id != first.state_key_id
    assert second.state_keys[first.state_key_id] == first.state_keys[first.state_key_id]
    previous = client.get_secret_value(SecretId=secret_arn, VersionStage="AWSPREVIOUS")["SecretString"]
    assert parse_secret_bundle(previous).state_key_id == first.state_key_id


def test_test_step_refuses_a_pending_version_that_lost_the_signing_key(client: Any, secret_arn: str) -> None:
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=ManualClock(NOW))
    signing = rotation.rotate_now()
    token = "bbbbbbbb-2222-3333-4444-555555555555"
    lost = {"state_keys": {"k9": KEY}, "state_key_id": "k9", "api_token": TOKEN}
    client.put_secret_value(
        SecretId=secret_arn, ClientRequestToken=token, SecretString=json.dumps(lost), VersionStages=["AWSPENDING"]
    )
    with pytest.raises(RotationError, match="lacks the key that signed until now"):
        rotation.handle_event(event(secret_arn, "testSecret", token))
    assert load_secret_bundle(client, secret_arn).state_key_id == signing.state_key_id


def test_test_step_refuses_a_malformed_pending_version(client: Any, secret_arn: str) -> None:
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=ManualClock(NOW))
    token = "cccccccc-2222-3333-4444-555555555555"
    client.put_secret_value(
        SecretId=secret_arn, ClientRequestToken=token, SecretString=json.dumps(INITIAL), VersionStages=["AWSPENDING"]
    )
    with pytest.raises(RotationError, match="would not be usable: state_keys") as info:
        rotation.handle_event(event(secret_arn, "testSecret", token))
    assert TOKEN not in str(info.value)


def test_create_refuses_to_store_a_secret_the_functions_cannot_read(client: Any, mocked_aws: None) -> None:
    arn = client.create_secret(Name="broken", SecretString=json.dumps({**INITIAL, "api_token": "short"}))["ARN"]
    rotation = SecretRotation(client, arn, keep_retired_seconds=WINDOW, clock=ManualClock(NOW))
    with pytest.raises(RotationError, match="api_token must be"):
        rotation.create_secret("dddddddd-2222-3333-4444-555555555555")
    assert list(stages(client, arn).values()) == [["AWSCURRENT"]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SecretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other"}, "rotates .* only"),
        ({"Step": "dropEverything"}, "unknown rotation step"),
        ({"ClientRequestToken": "x" * 65}, "too long"),
        ({"ClientRequestToken": "no-such-version"}, "does not exist"),
    ],
)
def test_events_for_another_secret_step_or_version_are_refused(
    client: Any, secret_arn: str, change: dict[str, str], message: str
) -> None:
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=ManualClock(NOW))
    with pytest.raises(RotationError, match=message):
        rotation.handle_event({**event(secret_arn, "createSecret", "x"), **change})


def test_a_version_that_is_neither_pending_nor_current_is_refused(client: Any, secret_arn: str) -> None:
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=ManualClock(NOW))
    old = client.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["VersionId"]
    rotation.rotate_now()
    with pytest.raises(RotationError, match="not AWSPENDING"):
        rotation.handle_event(event(secret_arn, "createSecret", old))


def test_edits_and_manual_rotation_wait_for_a_rotation_in_progress(client: Any, secret_arn: str) -> None:
    clock = ManualClock(NOW)
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=clock)
    rotation.rotate_now()
    clock.now += 60
    rotation.create_secret("eeeeeeee-2222-3333-4444-555555555555")  # a rotation that has not finished
    with pytest.raises(RotationError, match="in progress"):
        rotation.edit(with_new_api_token)
    with pytest.raises(RotationError, match="in progress"):
        rotation.rotate_now()


def test_api_token_edit_makes_a_new_current_version(client: Any, secret_arn: str) -> None:
    clock = ManualClock(NOW)
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=clock)
    rotation.rotate_now()
    rolled = rotation.edit(with_new_api_token)
    assert load_secret_bundle(client, secret_arn).api_tokens() == (rolled.api_token, TOKEN)
    rotation.edit(without_previous_api_token)
    assert load_secret_bundle(client, secret_arn).api_tokens() == (rolled.api_token,)
    clock.now += 60
    rotation.rotate_now()  # no stale AWSPENDING left behind by the edits
    assert load_secret_bundle(client, secret_arn).api_tokens() == (rolled.api_token,)


def test_a_pending_label_left_on_the_current_version_is_cleared(client: Any, secret_arn: str) -> None:
    """Another rotation function may leave AWSPENDING on the current version; left on the version that is
    no longer current it would look like a rotation "in progress" and block the next RotateSecret."""
    rotation = SecretRotation(client, secret_arn, keep_retired_seconds=WINDOW, clock=ManualClock(NOW))
    rotation.rotate_now()
    current = client.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["VersionId"]
    client.update_secret_version_stage(SecretId=secret_arn, VersionStage="AWSPENDING", MoveToVersionId=current)
    rotation.edit(with_new_api_token)
    assert not [labels for labels in stages(client, secret_arn).values() if "AWSPENDING" in labels]


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"SecretString": "[1, 2]"}, "must be a JSON object"),
        ({"SecretString": "{not json"}, "not valid JSON"),
        ({"SecretBinary": b"\x00"}, "no SecretString"),
    ],
)
def test_a_secret_that_is_not_a_json_object_is_neither_rotated_nor_edited(
    client: Any, stored: dict[str, Any], message: str
) -> None:
    arn = client.create_secret(Name="odd", **stored)["ARN"]
    rotation = SecretRotation(client, arn, keep_retired_seconds=WINDOW, clock=ManualClock(NOW))
    for attempt in (rotation.rotate_now, lambda: rotation.edit(with_new_api_token)):
        with pytest.raises(RotationError, match=message):
            attempt()
    assert list(stages(client, arn).values()) == [["AWSCURRENT"]]
