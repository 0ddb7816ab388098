"""``emrex-emc secret …`` against moto (in process): token rollover, dropping the previous token, a state key
rotation where no rotation function is configured, the stack lookup and the error paths."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from emrex_emc.adapters.secret_rotation import key_created_at
from emrex_emc.adapters.secrets import SecretBundle, load_secret_bundle
from emrex_emc.cli import main

REGION = "eu-west-1"
TOKEN = "t" * 48


@pytest.fixture
def secretsmanager(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def secret_arn(secretsmanager: Any) -> str:
    """The secret as the stack creates it, before its first rotation."""
    initial = {"state_key_id": "k1", "state_keys": {}, "api_token": TOKEN}
    arn: str = secretsmanager.create_secret(Name="EmrexEmcSecret", SecretString=json.dumps(initial))["ARN"]
    return arn


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["secret", *args])
    out, err = capsys.readouterr()
    return status, out, err


def current(secretsmanager: Any, arn: str) -> SecretBundle:
    return load_secret_bundle(secretsmanager, arn)


def test_rotate_state_key_fills_and_rotates_where_no_rotation_function_exists(
    secretsmanager: Any, secret_arn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "rotate-state-key", "--secret-id", secret_arn)
    assert status == 0 and out == ""
    bundle = current(secretsmanager, secret_arn)
    assert key_created_at(bundle.state_key_id) is not None and f"state_key_id is now {bundle.state_key_id}" in err
    assert bundle.api_token == TOKEN


def test_api_token_rollover_prints_only_the_new_token(
    secretsmanager: Any, secret_arn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "rotate-state-key", "--secret-id", secret_arn)[0] == 0
    status, out, err = run(capsys, "rotate-api-token", "--secret-id", secret_arn)
    assert status == 0 and "api_token_previous" in err
    new_token = out.strip()
    assert out == new_token + "\n" and len(new_token) == 48 and TOKEN not in out + err
    assert current(secretsmanager, secret_arn).api_tokens() == (new_token, TOKEN)

    status, out, err = run(capsys, "rotate-api-token", "--secret-id", secret_arn)
    assert status == 1 and out == "" and "drop it first" in err  # the enrolment system may still use TOKEN
    assert current(secretsmanager, secret_arn).api_tokens() == (new_token, TOKEN)

    assert run(capsys, "drop-previous-api-token", "--secret-id", secret_arn)[0] == 0
    assert current(secretsmanager, secret_arn).api_tokens() == (new_token,)
    status, _, err = run(capsys, "drop-previous-api-token", "--secret-id", secret_arn)
    assert status == 1 and "nothing to drop" in err


def test_admin_token_rotation_prints_only_the_new_token(
    secretsmanager: Any, secret_arn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "rotate-state-key", "--secret-id", secret_arn)[0] == 0
    first = current(secretsmanager, secret_arn).admin_token  # the rotation generated one
    assert first and len(first) == 48
    status, out, err = run(capsys, "rotate-admin-token", "--secret-id", secret_arn)
    new_token = out.strip()
    assert status == 0 and out == new_token + "\n" and len(new_token) == 48
    assert first not in out + err and TOKEN not in out + err
    assert current(secretsmanager, secret_arn).admin_tokens() == (new_token,)
    assert current(secretsmanager, secret_arn).api_tokens() == (TOKEN,)


def test_the_secret_is_found_through_the_stack_outputs(
    secretsmanager: Any, secret_arn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"SecretArn": {"Value": secret_arn}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="EmrexEmc", TemplateBody=json.dumps(template)
    )
    assert run(capsys, "rotate-state-key", "--stack", "EmrexEmc")[0] == 0
    assert key_created_at(current(secretsmanager, secret_arn).state_key_id) is not None


def test_a_stack_without_the_output_is_an_error(secretsmanager: Any, capsys: pytest.CaptureFixture[str]) -> None:
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="Other", TemplateBody=json.dumps(template)
    )
    status, out, err = run(capsys, "rotate-api-token", "--stack", "Other")
    assert (status, out) == (1, "") and "stack Other has no SecretArn output" in err


def test_an_unknown_secret_is_an_error_not_a_traceback(secretsmanager: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "rotate-api-token", "--secret-id", "no-such-secret")
    assert (status, out) == (1, "") and "ResourceNotFoundException" in err


def test_a_secret_edit_never_stores_an_unusable_secret(
    secretsmanager: Any, secret_arn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "rotate-api-token", "--secret-id", secret_arn)  # no state key yet
    assert status == 1 and "state_keys must be a non-empty" in err and TOKEN not in err
    assert json.loads(secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"])["api_token"] == TOKEN


def test_secret_id_or_stack_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["secret", "rotate-api-token"])
    assert "--secret-id" in capsys.readouterr().err
