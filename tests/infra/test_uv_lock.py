"""uv.lock is the one source of the environment: CI's install refuses a lock that no longer matches
pyproject.toml (``uv sync --locked`` in scripts/setup.sh), and the same check run here tells a stale lock apart."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UV = REPO / "scripts" / "uv"

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def lock_check(folder: Path) -> subprocess.CompletedProcess[str]:
    """``uv lock --check`` as ``make lock`` would resolve, from the cache the install filled (no network)."""
    return subprocess.run(
        [str(UV), "lock", "--check", "--offline", "--directory", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_project(folder: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(REPO / name, folder / name)
    return folder


def test_the_committed_lock_matches_pyproject(tmp_path: Path) -> None:
    result = lock_check(copy_of_the_project(tmp_path))
    assert result.returncode == 0, result.stderr


def test_a_dependency_added_without_updating_the_lock_is_refused(tmp_path: Path) -> None:
    project = copy_of_the_project(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    # idna is already in the lock (httpx needs it): only the project's own requirements change
    edited = re.sub(r"(dependencies = \[\n)", r'\1    "idna>=3",\n', text, count=1)
    assert edited != text
    pyproject.write_text(edited, encoding="utf-8")
    result = lock_check(project)
    assert result.returncode != 0 and "needs to be updated" in result.stderr, result.stderr


def test_the_install_and_the_make_targets_use_the_lock() -> None:
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert re.search(r"scripts/uv sync --locked\b", setup)
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^lock:.*\n\tscripts/uv lock$", makefile, re.MULTILINE)
    assert re.search(r"^lock-upgrade:.*\n\tscripts/uv lock --upgrade", makefile, re.MULTILINE)
