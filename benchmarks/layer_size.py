"""The dependency layer, unzipped, vs a naive ``pip install --target`` of the same direct dependencies.

The figure is ``layers/build.py``'s layer (reused while its stamp matches): pinned wheels with the AWS SDK
trimmed to our four services, trimmed, stripped when a strip for the target is installed, precompiled when a
python3.13 is found (the row says which ran). The reference is what a naive user gets: the direct dependencies
with their dependencies resolved by pip (boto3 included, Powertools with its ``tracer`` extra),
for the same platform, with pip's default bytecode compilation off (pip cannot compile for 3.13 here).
Sizes are the sum of file sizes (what Lambda's 250 MB unzipped limit counts), in MB (10^6 bytes).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import Row, benchmark
from layers import build

DIRECT = ("aws-lambda-powertools[tracer]", "lxml", "signxml", "cryptography", "httpx", "nh3", "boto3", "anyascii")


def naive_install(target: Path, arch: str = "arm64") -> None:
    pins = build.layer_pins(arch)
    requirements = []
    for spec in DIRECT:
        name, _, extra = spec.partition("[")
        requirements.append(f"{name}{'[' + extra if extra else ''}=={pins[build.canonical_name(name)].version}")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    command += ["--only-binary=:all:", "--implementation", "cp", "--python-version", build.PYTHON_VERSION]
    for platform in build.PLATFORMS[arch]:
        command += ["--platform", platform]
    command += ["--target", str(target), *requirements]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"naive pip install failed: {result.stderr[-1500:]}")


@benchmark
def layer_vs_naive_install(runs: int) -> list[Row]:
    layer = build.ensure_layer("arm64")
    site = layer.deps_dir / "python"
    with tempfile.TemporaryDirectory(prefix="emrex-naive-") as folder:
        naive_install(Path(folder))
        naive = build.tree_size(Path(folder)) / 1e6
    steps = ", ".join(
        [
            "stripped" if layer.stripped else "NOT stripped (no aarch64 strip)",
            "precompiled" if layer.precompiled else "NOT precompiled (no python3.13)",
        ]
    )
    return [
        Row(
            f"layer unzipped ({steps}; goal <= 30 MB)", layer.unzipped_bytes / 1e6, "naive pip install", naive, 1, "MB"
        ),
        Row("  of which site-packages", build.tree_size(site) / 1e6, "naive pip install", naive, 1, "MB"),
    ]
