"""The local stack as the browser tests use it: starting ``emrex-emc local``, creating transfers through the
enrolment API, and the steps of a transfer in the browser (the fixtures are in ``conftest.py``)."""

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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
NOT_CI = frozenset({"", "0", "false"})
"""Values of ``CI`` that mean "not in CI" (someone switching it off by hand)."""
INSTALL = "Install the Debian package 'chromium' (scripts/setup.sh does, without --no-browser)."
MOCK_EMP_LABEL = "EMREX mock EMP (local)"
MOCK_EMP2_LABEL = "EMREX 2.0 mock EMP (local)"
START_URL = re.compile(r"/start/[0-9a-f]{32}$")


APPLICANT = Applicant(given_names="Zoë Anne", family_name="Ødegård-Lind", birth_date="1998-02-28")
GREEK_APPLICANT = Applicant(given_names="Γεώργιος", family_name="Παπαδόπουλος", birth_date="1999-04-05")
"""Typed in Greek: the mock EMP's ELMO 2.1 scenarios send the passport spelling plus the Greek alternativeName."""


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


@dataclass(frozen=True)
class NoBrowser:
    """What the browser tests do when Chromium is missing: fail (``fail``) or skip, saying ``reason``."""

    fail: bool
    reason: str


def no_browser(chromium: str, environ: Mapping[str, str]) -> NoBrowser | None:
    """``None`` when Chromium is at ``chromium``. Otherwise, in CI (``CI`` set, as CI services and ``.ci/run``
    set it) a failure, so that CI is never green without its browser tests; on a developer's machine a skip."""
    if Path(chromium).is_file():
        return None
    if environ.get("CI", "").strip().lower() not in NOT_CI:
        return NoBrowser(True, f"CI is set but there is no Chromium at {chromium}: no browser test can run. {INSTALL}")
    return NoBrowser(False, f"no Chromium at {chromium}, so no browser tests. {INSTALL}")


def free_port() -> int:
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


def _stop(process: subprocess.Popen[bytes], log: Path) -> int:
    """Ctrl-C, as a person stops it; a stack still running 30 s later is killed and the test fails."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"emrex-emc local did not stop within 30 s of Ctrl-C; see {log}")


@contextmanager
def running_local_stack(
    *args: str, port: int, state_dir: Path, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """``emrex-emc local --port PORT --state-dir DIR ARGS`` as a person runs it, in a subprocess whose
    environment has no ``AWS_``/``EMREX_`` variables but ``env``; yields its ``/health`` answer once healthy,
    then stops it with Ctrl-C and checks that it exited cleanly."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EMREX_"))} | dict(env or {})
    command = [sys.executable, "-m", "emrex_emc.cli", "local", "--port", str(port), "--state-dir", str(state_dir)]
    with log.open("wb") as out:
        process = subprocess.Popen([*command, *args], cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield _wait_healthy(f"http://127.0.0.1:{port}", process, log)
    finally:
        returncode = _stop(process, log)
    assert returncode == 0, f"emrex-emc local exited with {returncode} after Ctrl-C; see {log}"


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
