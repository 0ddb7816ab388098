"""Handler init in a fresh interpreter (what a student waits for on a cold start) vs one that imports boto3.

Each run starts a new interpreter: the child times, with ``perf_counter``, ``import boto3`` (the reference:
a fresh interpreter importing boto3), then importing the handler module and calling its cached wiring
function (settings + boto3 clients + state signer) exactly as the first invocation does, with the secret
read replaced by a fixed one (no network: ``AWS_ENDPOINT_URL`` points at a closed local port and nothing
is called). Figure and reference come from the same process (paired): on this VM ``import boto3`` alone
varies by +-25 % from one process to the next while the rest of the init stays within a few ms, so
comparing separate processes mostly measured that noise. The whole-process rows compare with a
separate child that only imports boto3 (interpreter start-up included).

Layouts:

- **deployed** (the headline rows): the runtime's Python 3.13 (``layers.build.find_target_python``) with
  the function asset as staged for Lambda (``infra/function_code.py``: precompiled) and the dependency
  layer built for this machine's architecture (``layers/build.py``: the pinned SDK trimmed to our services,
  precompiled), ``-I -S -B``: no site-packages, no bytecode written (``/var/task`` and ``/opt`` are
  read-only). Without a python3.13 the rows say so and fall back to the development layout.
- **development**: this virtualenv's Python and packages (the full, untrimmed SDK the Lambda runtime would
  otherwise provide), the function code compiled into a temporary bytecode cache: what the layer's SDK
  trimming saves.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
}
_SECRET = json.dumps({"state_keys": {"k1": "a2V5" * 11}, "state_key_id": "k1", "api_token": "t" * 24})

HANDLER_CHILD = """
import time
started = time.perf_counter()
import boto3  # what the handler imports first anyway; timed on its own as the paired reference
boto3_seconds = time.perf_counter() - started
import importlib, json
module = importlib.import_module({handler!r} + ".handler")
from emrex_emc.adapters import secrets
secrets.load_secret_bundle = lambda client, name: secrets.parse_secret_bundle({secret!r})  # the one network call
module._wiring()
print(json.dumps({{"seconds": time.perf_counter() - started, "boto3_seconds": boto3_seconds}}))
"""
BOTO3_CHILD = """
import time
started = time.perf_counter()
import boto3
seconds = time.perf_counter() - started
import json
print(json.dumps({"seconds": seconds, "boto3_seconds": seconds}))
"""


@dataclass(frozen=True)
class Layout:
    """Where a child's interpreter, our code and the dependencies come from."""

    name: str
    python: str
    path: tuple[str, ...]
    """Prepended to ``sys.path`` (function code first, as Lambda's ``/var/task`` before ``/opt/python``)."""
    flags: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def development_layout(pycache_prefix: str | None = None) -> Layout:
    # an empty PYTHONDONTWRITEBYTECODE overrides a "1" inherited from the environment (as on this machine)
    env = {"PYTHONPYCACHEPREFIX": pycache_prefix, "PYTHONDONTWRITEBYTECODE": ""} if pycache_prefix else {}
    return Layout("development", sys.executable, (str(REPO / "functions"),), env=env)


def deployed_layout() -> Layout | None:
    """Python 3.13 + the staged function asset + this machine's build of the layer, or None without 3.13."""
    from infra.function_code import stage_function_code
    from layers import build

    python = build.find_target_python()
    arch = build.HOST_ARCH
    if python is None or not arch:
        return None
    asset, _ = stage_function_code()
    layer = build.ensure_layer(arch, build_dir=build.BUILD_DIR / f"host-{arch}")
    return Layout("deployed", python, (str(asset), str(layer.deps_dir / "python")), flags=("-I", "-S", "-B"))


def handler_child(handler: str) -> str:
    return HANDLER_CHILD.format(handler=handler, secret=_SECRET)


@dataclass(frozen=True)
class ChildTiming:
    inside: float
    """Seconds measured inside the child (interpreter start-up excluded)."""
    wall: float
    """Seconds of the whole process."""
    boto3: float
    """Of ``inside``: the child's first step, ``import boto3`` in a fresh interpreter."""


def run_child(code: str, layout: Layout | None = None) -> ChildTiming:
    layout = layout or development_layout()
    env = {**os.environ, **DUMMY_ENV, **layout.env}
    prologue = f"import sys; sys.path[:0] = {list(layout.path)!r}\n"
    started = time.perf_counter()
    result = subprocess.run(
        [layout.python, *layout.flags, "-c", prologue + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return ChildTiming(float(report["seconds"]), wall, float(report["boto3_seconds"]))


def measure(codes: dict[str, str], runs: int, layout: Layout) -> dict[str, ChildTiming]:
    """Medians per child; the children alternate so drift hits all alike; one warm-up each."""
    samples: dict[str, list[ChildTiming]] = {name: [] for name in codes}
    for code in codes.values():
        run_child(code, layout)  # page cache, bytecode cache of the development layout
    for _ in range(runs):
        for name, code in codes.items():
            samples[name].append(run_child(code, layout))
    return {
        name: ChildTiming(
            statistics.median(t.inside for t in values),
            statistics.median(t.wall for t in values),
            statistics.median(t.boto3 for t in values),
        )
        for name, values in samples.items()
    }


@benchmark
def handler_init_vs_boto3(runs: int) -> list[Row]:
    codes = {"boto3": BOTO3_CHILD, **{handler: handler_child(handler) for handler in HANDLERS}}
    with tempfile.TemporaryDirectory(prefix="emrex-pyc-") as prefix:
        development = measure(codes, runs, development_layout(prefix))
    layout = deployed_layout()
    deployed = measure(codes, runs, layout) if layout else development
    where = "deployed: python3.13, layer, precompiled asset" if layout else "NO python3.13: development layout"
    rows = []
    for handler in HANDLERS:
        child = deployed[handler]
        figure = f"{handler} init ({where}; goal <= {GOALS[handler]}x)"
        rows.append(Row(figure, child.inside, "its import boto3 (paired)", child.boto3, runs))
        rows.append(
            Row(f"{handler} init, whole process", child.wall, "import-boto3 process", deployed["boto3"].wall, runs)
        )
        figure = f"{handler} init, development layout (python{platform.python_version()}, full SDK)"
        rows.append(Row(figure, development[handler].inside, "its import boto3", development[handler].boto3, runs))
    return rows
