"""The function code asset: ``functions/`` as deployed, with its bytecode precompiled.

Lambda's ``/var/task`` is read-only, so without shipped ``.pyc`` files Python recompiles every module of
ours on each cold start (measured: 70-100 ms of the handlers' init, see docs/PERFORMANCE.md). The staged
copy leaves out the local runner and the CLI, and is compiled by an interpreter of the runtime's version
(``unchecked-hash`` bytecode, file names as in ``/var/task``), so the asset is the same on every synth of
the same sources.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from layers.build import BUILD_DIR, find_target_python, precompile

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"
STAGING_DIR = BUILD_DIR / "functions"
LEFT_OUT = frozenset({"emrex_emc/local", "emrex_emc/commands", "emrex_emc/cli.py"})
"""Relative paths never deployed: local runner, mock EMP, demo apps and the operator CLI."""
LAMBDA_TASK_ROOT = "/var/task"


def _ignore(source: Path):  # type: ignore[no-untyped-def]
    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(source)
        return {
            name
            for name in names
            if name == "__pycache__" or name.endswith((".pyc", ".egg-info")) or (relative / name).as_posix() in LEFT_OUT
        }

    return ignore


def stage_function_code(source: Path = FUNCTIONS_DIR, staging: Path = STAGING_DIR) -> tuple[Path, bool]:
    """Copy the deployable code to ``staging`` and precompile it; returns the folder and whether it was compiled."""
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=_ignore(source))
    python = find_target_python()
    if python is None:
        return staging, False
    precompile(staging, python, strip_prefix=staging, prepend_prefix=LAMBDA_TASK_ROOT)
    return staging, True
