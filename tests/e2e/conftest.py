"""One ``emrex-emc local`` (started as a subprocess, as a person runs it) and one headless Chromium (Debian's,
never a downloaded one) for every browser test: the modules here share them (``xdist_group("e2e")``).

Screenshots and the accessibility reports go to ``test-artifacts/`` (git-ignored; CI keeps them).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.stack import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Stack, free_port, no_browser, running_local_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = no_browser(CHROMIUM, os.environ)
    if missing is not None and missing.fail:
        pytest.fail(missing.reason, pytrace=False)
    if missing is not None:
        pytest.skip(missing.reason)
    ARTIFACTS.mkdir(exist_ok=True)
    events_file = tmp_path_factory.mktemp("sis") / "events.jsonl"
    log = ARTIFACTS / "e2e-local-stack.log"
    api_token = secrets.token_urlsafe(24)
    with running_local_stack(
        "--events-file",
        str(events_file),
        port=free_port(),
        state_dir=tmp_path_factory.mktemp("state"),  # one stack per state folder
        log=log,
        env={"EMREX_API_TOKEN": api_token},  # so the tests can also create transfers as an enrolment backend
    ) as health:
        yield Stack(urls=health["urls"], events_file=events_file, api_token=api_token)


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
