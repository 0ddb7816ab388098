"""``emrex-emc local`` reads the secret from moto as the functions do in AWS, and picks up a rotation.

The whole local stack runs in this process (moto server, the real handlers behind the local API Gateway)
with ``EMREX_SECRET_MAX_AGE_SECONDS=1``; the rotations are the ``emrex-emc secret`` commands pointed at the
stack's moto endpoint, as a developer would run them in a second terminal.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import lxml.html
import pytest

from emrex_emc.adapters.secrets import SecretBundle, load_secret_bundle
from emrex_emc.cli import main
from emrex_emc.local.moto_env import ResourceNames
from emrex_emc.local.runner import LocalStack, start_local_stack

pytestmark = [pytest.mark.filterwarnings("ignore:No application metrics to publish"), pytest.mark.xdist_group("local")]

API_TOKEN = "local-rotation-test-token-0123456789"
MAX_AGE_SECONDS = 1
HEALTH_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    saved = dict(os.environ)  # the runner sets the handlers' environment in os.environ, as at a cold start
    os.environ.update({"EMREX_API_TOKEN": API_TOKEN, "EMREX_SECRET_MAX_AGE_SECONDS": str(MAX_AGE_SECONDS)})
    local = start_local_stack(port=0, state_dir=tmp_path_factory.mktemp("local-state"))
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while httpx.get(f"{local.urls.api}/health").status_code != 200:
            assert time.monotonic() < deadline, "the local stack did not become healthy"
            time.sleep(0.2)
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)


def secret_cli(stack: LocalStack, action: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    status = main(["secret", action, "--secret-id", ResourceNames().secret, "--endpoint-url", stack.urls.moto])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out.strip()


def create_transfer(stack: LocalStack, token: str = API_TOKEN) -> httpx.Response:
    body = {
        "applicant_id": "A-1",
        "given_names": "Astrid",
        "family_name": "Lindqvist",
        "birth_date": "1999-04-17",
        "return_url": stack.urls.enrolment_form + "return",
        "locale": "en",
    }
    return httpx.post(f"{stack.urls.api}/sessions", json=body, headers={"authorization": f"Bearer {token}"})


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
    import boto3

    client = boto3.client("secretsmanager", endpoint_url=stack.urls.moto)
    return load_secret_bundle(client, ResourceNames().secret)


def test_warm_local_handlers_sign_with_a_rotated_state_key_within_max_age(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state_key_id_of_a_new_transfer(stack)
    secret_cli(stack, "rotate-state-key", capsys)
    rotated = current_secret(stack).state_key_id
    assert rotated != before
    time.sleep(MAX_AGE_SECONDS + 0.2)  # let the warm start handler's cached secret age out
    assert state_key_id_of_a_new_transfer(stack) == rotated


def test_local_api_token_rollover(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    new_token = secret_cli(stack, "rotate-api-token", capsys)
    assert len(new_token) >= 32 and new_token != API_TOKEN
    time.sleep(MAX_AGE_SECONDS + 0.2)
    assert create_transfer(stack, new_token).status_code == 201
    assert create_transfer(stack, API_TOKEN).status_code == 201  # the previous one, during the rollover
    secret_cli(stack, "drop-previous-api-token", capsys)
    time.sleep(MAX_AGE_SECONDS + 0.2)
    assert create_transfer(stack, new_token).status_code == 201
    assert create_transfer(stack, API_TOKEN).status_code == 401
