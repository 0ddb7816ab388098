"""A rotated secret reaches warm handlers (moto): callback, start_session and enrolment_api, each wired by
its real ``_service()`` with a test clock for the secret's max age; and the rotation Lambda's four steps.

Secrets Manager reads are counted on the process's shared ``secretsmanager`` client (a botocore hook).
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import boto3
import pytest

from callback import handler as callback_handler
from emrex_emc.adapters import secrets
from emrex_emc.adapters.aws import client as aws_client
from emrex_emc.adapters.secret_rotation import (
    RotationError,
    SecretRotation,
    key_created_at,
    retired_key_window,
    with_new_api_token,
    without_previous_api_token,
)
from emrex_emc.adapters.secrets import SecretProvider, load_secret_bundle
from emrex_emc.adapters.sessions import Transfer
from emrex_emc.core.state import StateSigner
from enrolment_api import handler as enrolment_handler
from secret_rotation import handler as rotation_handler
from start_session import handler as start_handler
from tests.clock import ManualClock
from tests.functions.callback_helpers import callback_event, form_for, state_for
from tests.functions.conftest import API_TOKEN, REGION, STATE_KEY_ID, STATE_KEYS, AwsEnv, apigw_event
from tests.functions.test_start_session import NO, csrf_of, get_page, post_choice, store_snapshot
from tests.lambda_context import LAMBDA_CONTEXT

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

NEW_KEY_ID, NEW_KEY = "k3", b"\x03" * 32
HANDLERS = (callback_handler, start_handler, enrolment_handler, rotation_handler)


@pytest.fixture
def clock(aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[ManualClock]:
    """Every handler's SecretProvider gets this clock (the wiring is otherwise the real one)."""
    clock = ManualClock()
    monkeypatch.setattr(secrets, "SecretProvider", partial(SecretProvider, clock=clock))  # function_secret's
    for module in HANDLERS:
        module.reset()
    yield clock
    for module in HANDLERS:
        module.reset()


@pytest.fixture
def reads(aws_env: AwsEnv) -> list[str]:
    """Secret ids of every GetSecretValue the handlers make from now on."""
    seen: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["SecretId"])

    aws_client("secretsmanager").meta.events.register("provide-client-params.secrets-manager.GetSecretValue", count)
    return seen


def put_secret(aws_env: AwsEnv, keys: dict[str, bytes], signing: str, **tokens: str) -> None:
    content = {
        "state_keys": {kid: base64.b64encode(key).decode() for kid, key in keys.items()},
        "state_key_id": signing,
        "api_token": API_TOKEN,
        **tokens,
    }
    aws_env.secretsmanager.put_secret_value(SecretId=aws_env.secret, SecretString=json.dumps(content))


def rotate_state_key(aws_env: AwsEnv) -> None:
    """What a rotation does: a new key signs, the previous ones still verify."""
    put_secret(aws_env, {**STATE_KEYS, NEW_KEY_ID: NEW_KEY}, NEW_KEY_ID)


# --- callback ---------------------------------------------------------------------------------------------


def post_callback(state: str, transfer: Transfer) -> dict[str, Any]:
    response: dict[str, Any] = callback_handler.handler(
        callback_event(state, form_for(transfer, "NCP_CANCEL")), LAMBDA_CONTEXT
    )
    return response


def test_warm_callback_accepts_a_state_signed_with_a_newly_rotated_key(
    aws_env: AwsEnv, clock: ManualClock, reads: list[str], make_transfer: Callable[..., Transfer]
) -> None:
    first, second = make_transfer(chosen=True), make_transfer(chosen=True)
    assert post_callback(state_for(aws_env.signer, first), first)["statusCode"] == 200  # warm, old secret
    rotate_state_key(aws_env)
    new_signer = StateSigner({**STATE_KEYS, NEW_KEY_ID: NEW_KEY}, NEW_KEY_ID)  # a start instance that re-read
    response = post_callback(state_for(new_signer, second), second)
    assert response["statusCode"] == 200 and "cancel" in response["body"].lower()
    stored = aws_env.transfers.get(second.id)
    assert stored is not None and stored.status.value == "cancelled"
    assert reads == [aws_env.secret, aws_env.secret]  # the cold read and one early re-read


def test_forged_key_ids_cost_the_callback_at_most_one_read_per_30_seconds(
    aws_env: AwsEnv, clock: ManualClock, reads: list[str], make_transfer: Callable[..., Transfer]
) -> None:
    transfer = make_transfer(chosen=True)
    forged = state_for(StateSigner({"forged": b"\x09" * 32}, "forged"), transfer)
    for _ in range(40):
        response = post_callback(forged, transfer)
        assert response["statusCode"] == 400
        clock.now += 0.5
    assert len(reads) == 2  # cold read + one early re-read in 20 s
    clock.now += 10
    assert post_callback(forged, transfer)["statusCode"] == 400
    assert len(reads) == 3
    wrong_mac = state_for(StateSigner({STATE_KEY_ID: b"\x09" * 32}, STATE_KEY_ID), transfer)
    assert post_callback(wrong_mac, transfer)["statusCode"] == 400
    assert len(reads) == 3  # a known key id with a wrong MAC never re-reads
    stored = aws_env.transfers.get(transfer.id)
    assert stored is not None and stored.status.value == "pending"


# --- start_session ------------------------------------------------------------------------------------------


def redirect_state(response: dict[str, Any]) -> str:
    assert response["statusCode"] == 200, response["body"][:300]
    return response["body"].split("callback?state=")[1].split('"')[0]


def test_warm_start_signs_with_the_new_key_within_max_age_and_accepts_new_csrf_fields(
    aws_env: AwsEnv, clock: ManualClock, reads: list[str], make_transfer: Callable[..., Transfer]
) -> None:
    store_snapshot(aws_env)
    before, during, after = make_transfer(), make_transfer(), make_transfer()
    cookie, field = csrf_of(get_page(before.id))  # warm, old secret
    assert redirect_state(post_choice(before.id, {"csrf": field, "emp": NO.id}, [cookie])).startswith("k2.")
    rotate_state_key(aws_env)

    # a chooser rendered by an instance that already has k3: this warm instance re-reads once and accepts it
    new_field = f"{NEW_KEY_ID}." + _csrf_mac(during.id, cookie.split("=", 1)[1])
    state = redirect_state(post_choice(during.id, {"csrf": new_field, "emp": NO.id}, [cookie]))
    assert state.startswith("k3.") and len(reads) == 2

    clock.now += 300  # and without that, after max age
    cookie, field = csrf_of(get_page(after.id))
    assert field.startswith("k3.")
    assert redirect_state(post_choice(after.id, {"csrf": field, "emp": NO.id}, [cookie])).startswith("k3.")
    assert len(reads) == 3


def _csrf_mac(transfer_id: str, cookie_token: str) -> str:
    from emrex_emc.core.csrf import CsrfGuard

    return CsrfGuard({NEW_KEY_ID: NEW_KEY}, NEW_KEY_ID).field_value(transfer_id, cookie_token).split(".", 1)[1]


def test_forged_csrf_key_ids_cost_start_at_most_one_read_per_30_seconds(
    aws_env: AwsEnv, clock: ManualClock, reads: list[str], make_transfer: Callable[..., Transfer]
) -> None:
    store_snapshot(aws_env)
    transfer = make_transfer()
    cookie, _ = csrf_of(get_page(transfer.id))
    for _ in range(20):
        assert post_choice(transfer.id, {"csrf": "kx." + "0" * 64, "emp": NO.id}, [cookie])["statusCode"] == 403
        clock.now += 1
    assert len(reads) == 2


# --- enrolment_api ------------------------------------------------------------------------------------------


def list_call(token: str) -> int:
    event = apigw_event(
        "GET", "/sessions/" + "0" * 32, route_key="GET /sessions/{id}", path_params={"id": "0" * 32},
        headers={"authorization": f"Bearer {token}"},
    )  # fmt: skip
    status: int = enrolment_handler.handler(event, LAMBDA_CONTEXT)["statusCode"]
    return status  # 404: authorized (no such transfer), 401: refused


def test_api_token_rollover_reaches_a_warm_enrolment_api(aws_env: AwsEnv, clock: ManualClock, reads: list[str]) -> None:
    rotation = SecretRotation(
        aws_env.secretsmanager, aws_env.secret, keep_retired_seconds=retired_key_window(1800, 300)
    )
    assert list_call(API_TOKEN) == 404  # warm
    new_token = rotation.edit(with_new_api_token).api_token
    assert list_call(new_token) == 401  # this instance has not re-read the secret yet
    assert list_call(API_TOKEN) == 404
    clock.now += 300
    assert list_call(new_token) == 404  # accepted after max age ...
    assert list_call(API_TOKEN) == 404  # ... and the previous token during the rollover
    rotation.edit(without_previous_api_token)
    clock.now += 300
    assert list_call(new_token) == 404
    assert list_call(API_TOKEN) == 401  # dropped: the old token is refused
    assert len(reads) == 3  # refused tokens never caused a read


# --- the rotation Lambda -----------------------------------------------------------------------------------------


@pytest.fixture
def rotation_function(aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> str:
    """A moto Lambda whose invocations run ``secret_rotation.handler`` in this process (moto would start a
    container), so ``RotateSecret`` drives the function as Secrets Manager does."""
    from moto.awslambda.models import LambdaBackend
    from moto.secretsmanager.models import SecretsManagerBackend

    def invoke(backend: Any, function_name: str, **call: Any) -> bytes:
        rotation_handler.handler(json.loads(call["body"]), LAMBDA_CONTEXT)
        return b""

    rotate = SecretsManagerBackend.rotate_secret

    def rotate_with_the_configured_function(backend: Any, secret_id: str, **call: Any) -> Any:
        # AWS keeps the rotation function when RotateSecret names none; moto would forget it
        configured = backend.secrets[secret_id].rotation_lambda_arn
        return rotate(backend, secret_id, **{**call, "rotation_lambda_arn": call["rotation_lambda_arn"] or configured})

    monkeypatch.setattr(LambdaBackend, "invoke", invoke)
    monkeypatch.setattr(SecretsManagerBackend, "rotate_secret", rotate_with_the_configured_function)
    role = boto3.client("iam", region_name=REGION).create_role(RoleName="rotation", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("secret_rotation/handler.py", "")
    function = boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="rotation",
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="secret_rotation.handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    rotation_handler.reset()
    arn: str = function["FunctionArn"]
    return arn


def test_rotate_secret_runs_the_rotation_function(aws_env: AwsEnv, rotation_function: str) -> None:
    aws_env.secretsmanager.rotate_secret(
        SecretId=aws_env.secret, RotationLambdaARN=rotation_function, RotationRules={"AutomaticallyAfterDays": 30}
    )
    bundle = load_secret_bundle(aws_env.secretsmanager, aws_env.secret)
    assert key_created_at(bundle.state_key_id) is not None
    assert bundle.state_keys[STATE_KEY_ID] == STATE_KEYS[STATE_KEY_ID]  # the previous signing key verifies
    assert bundle.api_token == API_TOKEN
    stages = aws_env.secretsmanager.describe_secret(SecretId=aws_env.secret)["VersionIdsToStages"]
    assert [labels for labels in stages.values() if "AWSPENDING" in labels] == []  # nothing left "in progress"


def test_the_rotation_function_rotates_only_its_own_secret(
    aws_env: AwsEnv, rotation_function: str, monkeypatch: pytest.MonkeyPatch, log_lines: io.StringIO
) -> None:
    monkeypatch.setenv("EMREX_SECRET_NAME", "another-secret")
    rotation_handler.reset()
    with pytest.raises(RotationError, match="rotates another-secret only"):
        aws_env.secretsmanager.rotate_secret(
            SecretId=aws_env.secret, RotationLambdaARN=rotation_function, RotationRules={"AutomaticallyAfterDays": 30}
        )
    assert load_secret_bundle(aws_env.secretsmanager, aws_env.secret).state_key_id == STATE_KEY_ID
    # the failed step is in the log as JSON, with its traceback (not only the runtime's plain-text report)
    [line] = [json.loads(text) for text in log_lines.getvalue().splitlines() if "rotation step failed" in text]
    assert line["level"] == "ERROR" and line["step"] == "createSecret" and "RotationError" in line["exception"]


def test_the_documented_cli_command_starts_the_rotation_function(
    aws_env: AwsEnv, rotation_function: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from emrex_emc.cli import main

    clock = ManualClock(1_800_000_000.0)  # 2027-01-15T08:00:00Z
    monkeypatch.setattr(rotation_handler, "SecretRotation", partial(SecretRotation, clock=clock))
    rotation_handler.reset()
    aws_env.secretsmanager.rotate_secret(
        SecretId=aws_env.secret, RotationLambdaARN=rotation_function, RotationRules={"AutomaticallyAfterDays": 30}
    )
    first = load_secret_bundle(aws_env.secretsmanager, aws_env.secret).state_key_id
    clock.now += 86400
    assert main(["secret", "rotate-state-key", "--secret-id", aws_env.secret]) == 0
    assert "rotation started" in capsys.readouterr().err
    bundle = load_secret_bundle(aws_env.secretsmanager, aws_env.secret)
    assert bundle.state_key_id == "k20270116T080000Z" != first and first in bundle.state_keys
