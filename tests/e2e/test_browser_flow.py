"""The whole flow in headless Chromium against ``emrex-emc local`` started as a subprocess, as a person runs it.

An applicant fills in the demo enrolment form, chooses the mock EMP on the EMC's chooser, follows the
auto-POST to the EMP, picks a scenario there, follows the auto-POST back to the EMC's callback and lands
on the outcome page. We then check the page and the event the demo SIS received (its events file).
Screenshots of every outcome page go to ``test-artifacts/`` (git-ignored; CI keeps them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
SCHEMAS = REPO / "functions" / "emrex_emc" / "schemas" / "events"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT_S = 120
EVENT_TIMEOUT_S = 30


@dataclass(frozen=True)
class Applicant:
    given_names: str
    family_name: str
    birth_date: str


APPLICANT = Applicant(given_names="Zoë Anne", family_name="Ødegård-Lind", birth_date="1998-02-28")


@dataclass(frozen=True)
class Stack:
    urls: dict[str, str]
    events_file: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(api: str, process: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"emrex-emc local exited with {process.returncode}; see {log}")
        try:
            response = httpx.get(f"{api}/health", timeout=2)
            if response.status_code == 200:
                health: dict[str, Any] = response.json()
                return health
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"emrex-emc local was not healthy within {START_TIMEOUT_S} s; see {log}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed (Debian package 'chromium'); .ci/run installs it")
    ARTIFACTS.mkdir(exist_ok=True)
    events_file = tmp_path_factory.mktemp("sis") / "events.jsonl"
    log = ARTIFACTS / "e2e-local-stack.log"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EMREX_"))}
    command = [sys.executable, "-m", "emrex_emc.cli", "local", "--port", str(port), "--events-file", str(events_file)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        health = _wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield Stack(urls=health["urls"], events_file=events_file)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            returncode = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("emrex-emc local did not stop within 30 s of Ctrl-C")
    assert returncode == 0, f"emrex-emc local exited with {returncode} after Ctrl-C; see {log}"


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB")
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def _to_chooser(page: Any, stack: Stack, applicant: Applicant) -> str:
    """The enrolment form, then the chooser of the new transfer; returns its id."""
    page.goto(stack.urls["enrolment_form"])
    page.fill("#given_names", applicant.given_names)
    page.fill("#family_name", applicant.family_name)
    page.fill("#birth_date", applicant.birth_date)
    page.click("#start-transfer")
    page.wait_for_url(re.compile(r"/start/[0-9a-f]{32}$"))
    return str(page.url.rsplit("/", 1)[1])


def _transfer(page: Any, stack: Stack, scenario: str, applicant: Applicant = APPLICANT) -> str:
    """Run one transfer through the browser; returns the transfer id (the page ends on the outcome page)."""
    transfer_id = _to_chooser(page, stack, applicant)
    page.get_by_label("EMREX mock EMP (local)").check()
    page.get_by_role("button", name="Continue").click()  # the EMC auto-POSTs sessionId + returnUrl to the EMP
    page.wait_for_url(stack.urls["mock_emp"])
    page.check(f"#scenario-{scenario}")
    page.fill("#given-names", applicant.given_names)
    page.fill("#family-name", applicant.family_name)
    page.fill("#birth-date", applicant.birth_date)
    with page.expect_navigation(url=re.compile(r"/callback\?state=")):
        page.click("#send-results")  # the EMP's page auto-POSTs the answer to returnUrl
    page.wait_for_load_state()
    page.screenshot(path=str(ARTIFACTS / f"e2e-outcome-{scenario}.png"), full_page=True)
    return transfer_id


def _event_for(stack: Stack, transfer_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while time.monotonic() < deadline:
        if stack.events_file.is_file():
            for line in stack.events_file.read_text(encoding="utf-8").splitlines():
                event: dict[str, Any] = json.loads(line)
                if event["detail"].get("session_id") == transfer_id:
                    _check_schema(event)
                    return event
        time.sleep(0.25)
    pytest.fail(f"the demo SIS received no event for transfer {transfer_id} within {EVENT_TIMEOUT_S} s")


def _check_schema(event: dict[str, Any]) -> None:
    """Every event the SIS gets must match the published JSON Schema of its detail-type."""
    import jsonschema

    name = event["detail-type"].lower().replace(" ", "-")
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(event["detail"], schema)


def test_ok_results_are_received_matched_and_published(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "ok")
    assert page.locator("h1").inner_text() == "Your results have been received"
    assert "signature was verified" in page.inner_text("main")
    event = _event_for(stack, transfer_id)
    assert event["source"] == "emrex.emc"
    assert event["detail-type"] == "EMREX Results Received"
    assert event["detail"]["status"] == "received"
    assert event["detail"]["identity"]["verdict"] == "MATCH"
    assert event["detail"]["summary"]["course_count"] == 3

    page.get_by_role("link", name="Back to your application").click()
    assert page.locator("#transfer-status").inner_text() == "received"
    page.screenshot(path=str(ARTIFACTS / "e2e-return-ok.png"), full_page=True)


def test_cancel_is_published_as_cancelled(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "cancel")
    assert page.locator("h1").inner_text() == "The transfer was cancelled"
    event = _event_for(stack, transfer_id)
    assert event["detail-type"] == "EMREX Transfer Cancelled"
    assert event["detail"]["status"] == "cancelled"


def test_results_of_another_person_are_received_with_a_mismatch_verdict(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "identity-mismatch")
    assert page.locator("h1").inner_text() == "Your results have been received"
    assert "check that these results belong to you" in page.inner_text("main")
    event = _event_for(stack, transfer_id)
    assert event["detail-type"] == "EMREX Results Received"
    assert event["detail"]["identity"]["verdict"] == "MISMATCH"


def test_tampered_document_is_rejected_with_its_code(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "tampered")
    assert page.locator("h1").inner_text() == "Your results could not be verified"
    assert "SIGNATURE_DIGEST_MISMATCH" in page.inner_text("main")
    event = _event_for(stack, transfer_id)
    assert event["detail-type"] == "EMREX Results Rejected"
    assert event["detail"]["status"] == "rejected"
    assert event["detail"]["error"]["code"] == "SIGNATURE_DIGEST_MISMATCH"


def test_demo_sis_lists_the_events_newest_first(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "no-results")
    _event_for(stack, transfer_id)
    page.goto(stack.urls["demo_sis"])
    first_row = page.locator("#events tbody tr").first
    assert "EMREX No Results" in first_row.inner_text()
    assert transfer_id in first_row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "e2e-demo-sis.png"), full_page=True)


def test_the_mock_emp_knows_the_applicant_and_fits_a_phone(browser: Any, stack: Stack) -> None:
    context = browser.new_context(locale="en-GB", viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(stack.urls["enrolment_form"])
        page.fill("#given_names", APPLICANT.given_names)
        page.fill("#family_name", APPLICANT.family_name)
        page.fill("#birth_date", APPLICANT.birth_date)
        page.click("#start-transfer")
        page.wait_for_url(re.compile(r"/start/[0-9a-f]{32}$"))
        page.get_by_label("EMREX mock EMP (local)").check()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(stack.urls["mock_emp"])
        # what the EMP's login would show: the applicant of this transfer, not the demo default
        assert page.input_value("#given-names") == APPLICANT.given_names
        assert page.input_value("#family-name") == APPLICANT.family_name
        assert page.input_value("#birth-date") == APPLICANT.birth_date
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
        page.screenshot(path=str(ARTIFACTS / "e2e-mock-emp-375px.png"), full_page=True)
    finally:
        context.close()


# --- EMREX 2.0: the same chooser, the OAuth flow through the mock EMP 2.0 -----------------------------------

EMREX2_EMP = "EMREX 2.0 mock EMP (local)"


def _transfer2(page: Any, stack: Stack, scenario: str, applicant: Applicant = APPLICANT) -> str:
    """One EMREX 2.0 transfer through the browser; returns the transfer id (the page ends on the outcome page)."""
    transfer_id = _to_chooser(page, stack, applicant)
    page.get_by_label(EMREX2_EMP).check()
    page.get_by_role("button", name="Continue").click()  # the interstitial navigates to the authorization request
    page.wait_for_url(re.compile(r"/emp2/authorize\?.*code_challenge_method=S256"))
    # what the EMP's login would show: the applicant of this transfer (its state verified with our keys)
    assert page.input_value("#given-names") == applicant.given_names
    page.check(f"#scenario-{scenario}")
    with page.expect_navigation(url=re.compile(r"/callback\?state=[^&]+$")):
        page.click("#send-results")  # the EMP redirects back; our 303 drops the code from the address
    page.wait_for_load_state()
    assert "code=" not in page.url
    page.screenshot(path=str(ARTIFACTS / f"e2e-emrex2-outcome-{scenario}.png"), full_page=True)
    return transfer_id


def test_emrex2_results_are_received_and_published_with_the_protocol(page: Any, stack: Stack) -> None:
    transfer_id = _transfer2(page, stack, "ok")
    assert page.locator("h1").inner_text() == "Your results have been received"
    event = _event_for(stack, transfer_id)
    assert event["detail-type"] == "EMREX Results Received"
    detail = event["detail"]
    assert detail["protocol"] == "emrex-2" and detail["schema_version"] == 2
    assert detail["signature"]["format"] == "jws" and detail["identity"]["verdict"] == "MATCH"
    page.get_by_role("link", name="Back to your application").click()
    assert page.locator("#transfer-status").inner_text() == "received"


def test_emrex2_access_denied_is_cancelled(page: Any, stack: Stack) -> None:
    transfer_id = _transfer2(page, stack, "access-denied")
    assert page.locator("h1").inner_text() == "The transfer was cancelled"
    assert _event_for(stack, transfer_id)["detail-type"] == "EMREX Transfer Cancelled"


def test_emrex2_a_tampered_body_is_rejected(page: Any, stack: Stack) -> None:
    transfer_id = _transfer2(page, stack, "tampered-body")
    assert page.locator("h1").inner_text() == "Your results could not be verified"
    event = _event_for(stack, transfer_id)
    assert event["detail"]["error"]["code"] == "JWS_INVALID" and event["detail"]["protocol"] == "emrex-2"


def test_emrex2_a_reload_of_the_outcome_page_publishes_nothing_new(page: Any, stack: Stack) -> None:
    transfer_id = _transfer2(page, stack, "no-results")
    assert page.locator("h1").inner_text() == "No results were found"
    _event_for(stack, transfer_id)
    page.reload()
    assert page.locator("h1").inner_text() == "No results were found"
    time.sleep(1)  # let the relay publish anything a reload might have queued (there must be nothing)
    lines = [json.loads(line) for line in stack.events_file.read_text(encoding="utf-8").splitlines()]
    assert sum(1 for event in lines if event["detail"].get("session_id") == transfer_id) == 1
