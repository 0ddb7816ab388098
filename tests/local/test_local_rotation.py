"""``emrex-emc local`` reads the secret from moto as the functions do in AWS, and picks up a rotation.

``emrex-emc local`` runs as a subprocess, as a person runs it (its moto keeps no state shared with the
in-process mocks of other tests), with ``EMREX_SECRET_MAX_AGE_SECONDS=1``; the rotations are the
``emrex-emc secret`` commands pointed at the stack's moto endpoint, as from a second terminal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import httpx
import lxml.html
import pytest

from emrex_emc.adapters.secrets import load_secret_bundle
from emrex_emc.cli import main
from emrex_emc.core.secret import SecretBundle
from emrex_emc.local.moto_env import ResourceNames, aws_client_env
from tests.e2e.stack import free_port, running_local_stack

# the same worker as the browser test (each stack has a state folder of its own)
pytestmark = [pytest.mark.filterwarnings("ignore:No application metrics to publish"), pytest.mark.xdist_group("e2e")]

API_TOKEN = "local-rotation-test-token-0123456789"
MAX_AGE_SECONDS = 1


@dataclass(frozen=True)
class LocalStack:
    api: str
    moto: str
    enrolment_form: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_local_stack(
        port=free_port(),
        state_dir=tmp_path_factory.mktemp("state"),  # one stack per state folder
        log=tmp_path_factory.mktemp("local") / "local-stack.log",
        env={"EMREX_API_TOKEN": API_TOKEN, "EMREX_SECRET_MAX_AGE_SECONDS": str(MAX_AGE_SECONDS)},
    ) as health:
        urls = health["urls"]
        yield LocalStack(api=urls["api"], moto=urls["moto"], enrolment_form=urls["enrolment_form"])


@pytest.fixture
def moto_credentials(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's boto3 (the CLI) talks to the stack's moto, as from a shell with these variables."""
    for name, value in aws_client_env(stack.moto).items():
        monkeypatch.setenv(name, value)


def secret_cli(stack: LocalStack, action: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    status = main(["secret", action, "--secret-id", ResourceNames().secret, "--endpoint-url", stack.moto])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out.strip()


def create_transfer(stack: LocalStack, token: str = API_TOKEN) -> httpx.Response:
    body = {
        "applicant_id": "A-1",
        "given_names": "Astrid",
        "family_name": "Lindqvist",
        "birth_date": "1999-04-17",
        "return_url": stack.enrolment_form + "return",
        "locale": "en",
    }
    return httpx.post(f"{stack.api}/sessions", json=body, headers={"authorization": f"Bearer {token}"})


def state_key_id_of_a_new_transfer(stack: LocalStack) -> str:
    """Create a transfer, choose the mock EMP, return the key id of the state in the returnUrl."""
    created = create_transfer(stack)
    assert created.status_code == 201, created.text
    with httpx.Client() as browser:
        chooser = browser.get(created.json()["start_url"])
        page = lxml.html.fromstring(chooser.text)
        form = {
            "csrf": page.xpath("//input[@name='csrf']/@value")[0],
            "emp": page.xpath("//input[@name='emp']/@value")[0],
        }
        redirect = browser.post(created.json()["start_url"], data=form)
    assert redirect.status_code == 200, redirect.text[:500]
    return_url = lxml.html.fromstring(redirect.text).xpath("//input[@name='returnUrl']/@value")[0]
    return str(return_url.split("state=")[1].split(".")[0])


def current_secret(stack: LocalStack) -> SecretBundle:
    client = boto3.client("secretsmanager", endpoint_url=stack.moto)
    return load_secret_bundle(client, ResourceNames().secret)


def test_warm_local_handlers_sign_with_a_rotated_state_key_within_max_age(
    stack: LocalStack, moto_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state_key_id_of_a_new_transfer(stack)
    secret_cli(stack, "rotate-state-key", capsys)
    rotated = current_secret(stack).state_key_id
    assert rotated != before
    time.sleep(MAX_AGE_SECONDS + 0.2)  # let the warm start handler's cached secret age out
    assert state_key_id_of_a_new_transfer(stack) == rotated


def test_local_api_token_rollover(
    stack: LocalStack, moto_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    new_token = secret_cli(stack, "rotate-api-token", capsys)
    assert len(new_token) >= 32 and new_token != API_TOKEN
    time.sleep(MAX_AGE_SECONDS + 0.2)
    assert create_transfer(stack, new_token).status_code == 201
    assert create_transfer(stack, API_TOKEN).status_code == 201  # the previous one, during the rollover
    secret_cli(stack, "drop-previous-api-token", capsys)
    time.sleep(MAX_AGE_SECONDS + 0.2)
    assert create_transfer(stack, new_token).status_code == 201
    assert create_transfer(stack, API_TOKEN).status_code == 401
