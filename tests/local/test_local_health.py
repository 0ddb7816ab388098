"""The local runner's /health (the deployed answer plus the local URLs, ``starting`` until every local
component runs) and its ``stack.json``."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from emrex_emc.local.runner import remove_stack_file, with_local_details

URLS = {"api": "http://127.0.0.1:8080", "moto": "http://127.0.0.1:5000"}


def deployed(status: int, body: dict[str, Any]) -> Any:
    return lambda event, context: {"statusCode": status, "headers": {}, "body": json.dumps(body)}


def test_starting_until_ready_then_the_deployed_answer_with_the_urls() -> None:
    ready = threading.Event()
    health = with_local_details(deployed(200, {"status": "ok", "registry": {"emp_count": 1}}), ready, URLS)

    starting = health({}, None)
    assert starting["statusCode"] == 503
    assert json.loads(starting["body"]) == {"status": "starting", "registry": {"emp_count": 1}, "urls": URLS}

    ready.set()
    answer = health({}, None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"status": "ok", "registry": {"emp_count": 1}, "urls": URLS}


def test_a_missing_snapshot_stays_not_ready_once_started() -> None:
    ready = threading.Event()
    ready.set()
    health = with_local_details(deployed(503, {"status": "no_registry", "registry": {}}), ready, URLS)
    answer = health({}, None)
    assert (answer["statusCode"], json.loads(answer["body"])["status"]) == (503, "no_registry")


def test_a_stopping_stack_removes_only_its_own_stack_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"endpoint_url": "http://127.0.0.1:2"}))  # a stack started later in this folder
    remove_stack_file(path, "http://127.0.0.1:1")
    assert path.exists()
    remove_stack_file(path, "http://127.0.0.1:2")
    assert not path.exists()
    remove_stack_file(path, "http://127.0.0.1:2")  # already gone: nothing to do
