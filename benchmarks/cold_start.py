"""Handler init in a fresh interpreter (what a student waits for on a cold start) vs one that imports boto3.

Each run starts a new ``python``: the child times, with ``perf_counter``, importing the handler module and
calling its cached wiring function (settings + boto3 clients + state signer) exactly as the first
invocation does, with the secret read replaced by a fixed one (no network: ``AWS_ENDPOINT_URL`` points at
a closed local port and nothing is called). The reference child only imports boto3. Both are also timed
as whole processes (interpreter start-up included).

Bytecode: the deployed function asset ships ``.pyc`` files (``infra/function_code.py``), so the headline
rows give each child a warm ``PYTHONPYCACHEPREFIX`` (as deployed). The ``compiled at start`` rows run with
``PYTHONDONTWRITEBYTECODE=1`` and no cache, like Lambda's read-only ``/var/task`` without shipped bytecode:
what precompiling saves.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import Row, benchmark

REPO = Path(__file__).resolve().parents[1]
HANDLERS = ("start_session", "callback")
GOALS = {"start_session": 1.2, "callback": 1.5}
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "benchmark",
    "AWS_SECRET_ACCESS_KEY": "benchmark",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: closed, and nothing is called anyway
    "AWS_EC2_METADATA_DISABLED": "true",
    "EMREX_TABLE_NAME": "emrex",
    "EMREX_BUCKET_NAME": "emrex-bucket",
    "EMREX_EVENT_BUS_NAME": "emrex-bus",
    "EMREX_SECRET_NAME": "emrex-secret",
    "EMREX_PUBLIC_BASE_URL": "https://emc.example",
    "POWERTOOLS_SERVICE_NAME": "benchmark",
    "POWERTOOLS_METRICS_NAMESPACE": "EMREX",
    "PYTHONDONTWRITEBYTECODE": "1",
}
_SECRET = json.dumps({"state_keys": {"k1": "a2V5" * 11}, "state_key_id": "k1", "api_token": "t" * 24})

HANDLER_CHILD = """
import time
started = time.perf_counter()
import importlib, json, sys
sys.path[:0] = [{functions!r}]
module = importlib.import_module({handler!r} + ".handler")
from emrex_emc.adapters.secrets import parse_secret_bundle
module.load_secret_bundle = lambda client, name: parse_secret_bundle({secret!r})  # the one network call
module._service()
print(json.dumps({{"seconds": time.perf_counter() - started}}))
"""
BOTO3_CHILD = """
import time
started = time.perf_counter()
import json
import boto3
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def handler_child(handler: str) -> str:
    return HANDLER_CHILD.format(functions=str(REPO / "functions"), handler=handler, secret=_SECRET)


def run_child(code: str, extra_env: dict[str, str] | None = None) -> tuple[float, float]:
    """(seconds measured inside the child, wall seconds of the whole process)."""
    env = {**os.environ, **DUMMY_ENV, **(extra_env or {})}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr[-2000:]}")
    return float(json.loads(result.stdout.strip().splitlines()[-1])["seconds"]), wall


def measure(
    codes: dict[str, str], runs: int, extra_env: dict[str, str] | None = None
) -> dict[str, tuple[float, float]]:
    """Median (inside, wall) per child; the children alternate so drift hits all alike; one warm-up each."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in codes}
    for code in codes.values():
        run_child(code, extra_env)  # page cache, pyc prefix
    for _ in range(runs):
        for name, code in codes.items():
            samples[name].append(run_child(code, extra_env))
    return {
        name: (statistics.median(s[0] for s in values), statistics.median(s[1] for s in values))
        for name, values in samples.items()
    }


@benchmark
def handler_init_vs_boto3(runs: int) -> list[Row]:
    codes = {"boto3": BOTO3_CHILD, **{handler: handler_child(handler) for handler in HANDLERS}}
    with tempfile.TemporaryDirectory(prefix="emrex-pyc-") as prefix:
        deployed = measure(codes, runs, {"PYTHONPYCACHEPREFIX": prefix, "PYTHONDONTWRITEBYTECODE": ""})
    cold = measure(codes, runs)
    rows = []
    for handler in HANDLERS:
        goal = f"goal <= {GOALS[handler]}x"
        inside, wall = deployed[handler]
        rows.append(Row(f"{handler} init ({goal})", inside, "import boto3", deployed["boto3"][0], runs))
        rows.append(
            Row(f"{handler} init, whole process", wall, "import boto3, whole process", deployed["boto3"][1], runs)
        )
        figure = f"{handler} init, function code compiled at start"
        rows.append(Row(figure, cold[handler][0], "import boto3 (no bytecode cache)", cold["boto3"][0], runs))
    return rows
