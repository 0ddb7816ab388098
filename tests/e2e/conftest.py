"""One ``emrex-emc local`` (started as a subprocess, as a person runs it) and one headless Chromium (Debian's,
never a downloaded one) for every browser test: the modules here share them (``xdist_group("e2e")``).

Screenshots and the accessibility reports go to ``test-artifacts/`` (git-ignored; CI keeps them).
"""

from __future__ import annotations

import os
import re
import secrets
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

from emrex_emc.local.demo_apps import Applicant

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
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
MOCK_EMP_LABEL = "EMREX mock EMP (local)"
START_URL = re.compile(r"/start/[0-9a-f]{32}$")


APPLICANT = Applicant(given_names="Zoë Anne", family_name="Ødegård-Lind", birth_date="1998-02-28")


@dataclass(frozen=True)
class Stack:
    urls: dict[str, str]
    events_file: Path
    api_token: str

    def create_transfer(self, *, locale: str = "", applicant: Applicant = APPLICANT) -> str:
        """``POST /sessions`` as an enrolment backend does; returns the ``start_url``."""
        body = {
            "applicant_id": f"e2e-{secrets.token_hex(4)}",
            "given_names": applicant.given_names,
            "family_name": applicant.family_name,
            "birth_date": applicant.birth_date,
            "return_url": f"{self.urls['enrolment_form']}return?ref=e2e",
            **({"locale": locale} if locale else {}),
        }
        response = httpx.post(
            f"{self.urls['api']}/sessions", json=body, headers={"authorization": f"Bearer {self.api_token}"}, timeout=30
        )
        assert response.status_code == 201, response.text
        start_url: str = response.json()["start_url"]
        return start_url


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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed (Debian package 'chromium'); .ci/run installs it")
    ARTIFACTS.mkdir(exist_ok=True)
    events_file = tmp_path_factory.mktemp("sis") / "events.jsonl"
    log = ARTIFACTS / "e2e-local-stack.log"
    port = _free_port()
    api_token = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EMREX_"))}
    env["EMREX_API_TOKEN"] = api_token  # so the tests can also create transfers as an enrolment backend
    command = [sys.executable, "-m", "emrex_emc.cli", "local", "--port", str(port), "--events-file", str(events_file)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        health = _wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield Stack(urls=health["urls"], events_file=events_file, api_token=api_token)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            returncode = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("emrex-emc local did not stop within 30 s of Ctrl-C")
    assert returncode == 0, f"emrex-emc local exited with {returncode} after Ctrl-C; see {log}"


@pytest.fixture(scope="session")
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


def choose_the_mock_emp(page: Any, stack: Stack) -> None:
    """On the chooser (any language): pick the mock EMP and continue; the EMC auto-POSTs to the EMP."""
    page.get_by_label(MOCK_EMP_LABEL).check()
    page.click("form[method=post] button[type=submit]")
    page.wait_for_url(stack.urls["mock_emp"])


def answer_at_the_mock_emp(page: Any, scenario: str, applicant: Applicant | None = None) -> None:
    """On the mock EMP: pick a scenario (and the learner) and send; the EMP auto-POSTs to the callback."""
    page.check(f"#scenario-{scenario}")
    if applicant is not None:
        page.fill("#given-names", applicant.given_names)
        page.fill("#family-name", applicant.family_name)
        page.fill("#birth-date", applicant.birth_date)
    with page.expect_navigation(url=re.compile(r"/callback\?state=")):
        page.click("#send-results")
    page.wait_for_load_state()
