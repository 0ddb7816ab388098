"""``emrex-emc transfers … --stack NAME`` against moto (in process): the stack's outputs name the table and the
bucket; stored text from outside (EMP names, issuers) never reaches the terminal with control or bidi characters,
in JSON or as text."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from callback import handler as callback_handler
from emrex_emc.adapters.outcomes import OutcomeStore
from emrex_emc.cli import main
from emrex_emc.core.audit import AuditRecord
from emrex_emc.core.events import OutcomeEvent
from emrex_emc.core.outcome import IssuerSummary, Outcome, ResultSummary
from emrex_emc.core.protocol import Status
from emrex_emc.core.transfer import Transfer, support_code
from tests.functions.callback_helpers import callback_event, form_for, ok_payload, state_for, trusted_emp
from tests.functions.conftest import REGION, AwsEnv, aws_env, make_transfer  # noqa: F401 - fixtures: the handler tests' moto world
from tests.lambda_context import LAMBDA_CONTEXT

STACK = "EmrexEmc"
HOSTILE = "Evil\x9b31m EMP \u202egpj.exe"
"""A C1 CSI (an 8-bit terminal escape) and a right-to-left override."""
HOSTILE_SHOWN = "Evil 31m EMP gpj.exe"


def deploy(env: AwsEnv, outputs: dict[str, str] | None = None) -> None:
    """A CloudFormation stack whose outputs name the table and the bucket, as the CDK stack's do."""
    values = {"TableName": env.table, "BucketName": env.bucket, **(outputs or {})}
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": value} for name, value in values.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName=STACK, TemplateBody=json.dumps(template))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["transfers", *args, "--stack", STACK])
    out, err = capsys.readouterr()
    return status, out, err


def received(env: AwsEnv, transfer: Transfer, payload: str | None = None) -> None:
    """The EMP's signed results for ``transfer`` (``payload``, or a valid one), through the callback as deployed."""
    callback_handler.reset()
    form = form_for(transfer, "NCP_OK", payload or ok_payload())
    event = callback_event(state_for(env.signer, transfer), form)
    assert callback_handler.handler(event, LAMBDA_CONTEXT)["statusCode"] == 200
    callback_handler.reset()


def callback_function(env: AwsEnv, variables: dict[str, str]) -> str:
    """A deployed callback function with ``variables`` in its environment; its name."""
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="callback", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="emrex-callback",
        Runtime="python3.13",
        Role=role,
        Handler="callback.handler.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Environment={"Variables": variables},
    )
    return "emrex-callback"


def with_hostile_issuer(env: AwsEnv, transfer: Transfer) -> None:
    """An outcome whose summary names an issuer as a hostile document could."""
    summary = ResultSummary(
        issuers=(IssuerSummary(HOSTILE, "NO"),), course_count=1, total_ects="5", report_count=1, attachment_count=0
    )
    outcome = Outcome(Status.RECEIVED, "2027-01-15T08:05:00Z", "NCP_OK", "0" * 64, "e-hostile", summary=summary)
    store = OutcomeStore(env.dynamodb, env.table, event_bus_name=env.bus, retention_days=30)
    event, audit = OutcomeEvent(transfer, outcome), AuditRecord(transfer, outcome)
    assert store.record(transfer, outcome, event=event, audit=audit, now=1_800_000_000)


@pytest.fixture
def hostile(aws_env: AwsEnv, make_transfer: Callable[..., Transfer]) -> Transfer:  # noqa: F811
    transfer = make_transfer(emp=replace(trusted_emp(), name=HOSTILE))
    with_hostile_issuer(aws_env, transfer)
    deploy(aws_env)
    return transfer


def test_show_json_escapes_control_and_bidi_characters_of_stored_names(
    hostile: Transfer, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "show", hostile.id, "--json", "--show-personal-data")
    assert status == 0
    assert "\x9b" not in out and "\u202e" not in out
    assert "\\u009b31m" in out and "\\u202e" in out  # escaped: the same JSON
    report = json.loads(out)
    assert report["emp"]["name"] == HOSTILE
    assert report["personal_data"]["summary"]["issuers"][0]["name"] == HOSTILE


def test_show_as_text_clips_control_and_bidi_characters_of_stored_names(
    hostile: Transfer, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "show", hostile.id, "--show-personal-data")
    assert status == 0
    assert "\x9b" not in out and "\u202e" not in out
    assert out.count(HOSTILE_SHOWN) == 2  # the EMP and the issuer, readable


def test_list_json_escapes_the_emp_name(hostile: Transfer, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "list", "--applicant", hostile.applicant_id, "--json")
    assert status == 0 and "\x9b" not in out and "\u202e" not in out
    assert json.loads(out)["transfers"][0]["emp"]["name"] == HOSTILE


@pytest.fixture
def stored(aws_env: AwsEnv, make_transfer: Callable[..., Transfer]) -> Transfer:  # noqa: F811
    """A transfer whose EMP sent valid signed results (received)."""
    transfer = make_transfer(emp=trusted_emp())
    received(aws_env, transfer)
    return transfer


def test_show_reads_the_transfer_through_the_stack_outputs(
    aws_env: AwsEnv,  # noqa: F811
    stored: Transfer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    transfer = stored
    deploy(aws_env)

    status, out, err = run(capsys, "show", support_code(transfer.id), "--json")
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert (report["id"], report["status"], report["emp"]["id"]) == (transfer.id, "received", trusted_emp().id)
    assert report["evidence"]["payload"] == f"s3://{aws_env.bucket}/transfers/{transfer.id}/payload.txt"
    assert "personal_data" not in report and "Nordmann" not in out

    status, out, _ = run(capsys, "reverify", transfer.id, "--json")  # the evidence, read from the stack's bucket
    assert status == 0 and json.loads(out)["agrees_with_stored_outcome"] is True


def test_a_stack_without_the_outputs_is_refused(aws_env: AwsEnv, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Outputs": {"TableName": {"Value": "t"}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    status, out, err = run(capsys, "show", "0" * 32)
    assert (status, out) == (2, "") and f"stack {STACK} has no TableName and BucketName outputs" in err


def test_reverify_checks_with_the_deployed_callbacks_policy(
    aws_env: AwsEnv,  # noqa: F811
    make_transfer: Callable[..., Transfer],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stack that forbids SHA-1 rejected a SHA-1 signed document; reverify agrees only with its policy."""
    monkeypatch.setenv("EMREX_FORBID_SHA1", "true")
    transfer = make_transfer(emp=trusted_emp())
    received(aws_env, transfer, ok_payload(style="java-sha1-inclusive"))
    stored = aws_env.transfers.get(transfer.id)
    assert stored and stored.outcome and stored.outcome.status is Status.REJECTED
    deploy(aws_env, {"CallbackFunctionName": callback_function(aws_env, {"EMREX_FORBID_SHA1": "true"})})

    status, out, err = run(capsys, "reverify", transfer.id, "--json")
    report = json.loads(out)
    assert (status, report["verdict"], report["agrees_with_stored_outcome"]) == (0, "rejected", True), err
    assert report["error"]["code"] == stored.outcome.error_code
    assert report["policy"] == {
        "source": "the deployed callback emrex-callback",
        "forbid_sha1": True,
        "strict_cert_validity": False,
    }


def test_reverify_without_the_callbacks_configuration_says_it_used_the_defaults(
    aws_env: AwsEnv,  # noqa: F811
    stored: Transfer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deploy(aws_env)  # a stack deployed before the CallbackFunctionName output
    status, out, _ = run(capsys, "reverify", stored.id, "--json")
    report = json.loads(out)
    assert (status, report["verdict"], report["policy"]["forbid_sha1"]) == (0, "received", False)
    assert report["policy"]["source"].startswith("the defaults")


def test_the_local_stack_file_carries_the_callbacks_verification_settings_only(tmp_path: Path) -> None:
    from emrex_emc.commands.transfers import _callback_policy, _target
    from emrex_emc.local.moto_env import ResourceNames, Resources
    from emrex_emc.local.runner import write_stack_file

    resources = Resources(ResourceNames(), "arn:stream", "https://queue", "key", api_token="t" * 40)
    env = {"EMREX_STRICT_CERT_VALIDITY": "true", "EMREX_API_TOKEN": "t" * 40, "EMREX_TABLE_NAME": "x"}
    write_stack_file(tmp_path, "http://127.0.0.1:1", resources, api="http://127.0.0.1:2", env=env)
    target = _target(argparse.Namespace(local=str(tmp_path)))
    assert _callback_policy(target) == ({"EMREX_STRICT_CERT_VALIDITY": "true"}, "the local stack")
    assert "t" * 40 not in (tmp_path / "stack.json").read_text()
