"""`emrex-emc local` refuses to start with one clear line: an unusable --registry, a busy port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("local-stack")


def _run_local(*args: str, state_dir: Path, port: int = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EMREX_"))}
    return subprocess.run(
        [sys.executable, "-m", "emrex_emc.cli", "local", "--port", str(port), *args],
        cwd=state_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "ready" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("emrex-emc local:")]
    assert len(lines) == 1
    return lines[0]


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("does-not-exist.xml", "there is no file at"),
        ("ftp://registry.example/catalogue.xml", "https:// or file:// URL"),
        ("garbage.xml", "REGISTRY_INVALID"),
    ],
)
def test_an_unusable_registry_stops_the_start_with_one_line(tmp_path: Path, registry: str, expected: str) -> None:
    (tmp_path / "garbage.xml").write_bytes(b"\x1b[2J this is not a registry " * 1000)
    line = _one_clear_line(_run_local("--registry", registry, state_dir=tmp_path))
    assert expected in line and "\x1b" not in line and len(line) < 700


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_busy_port_is_named_with_the_option_to_change_it(tmp_path: Path, busy_port: int) -> None:
    line = _one_clear_line(_run_local(state_dir=tmp_path, port=busy_port))
    assert f"port {busy_port}" in line and "--port" in line
