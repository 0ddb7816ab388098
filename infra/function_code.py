"""The function code asset: ``functions/`` as deployed, with its bytecode precompiled.

Lambda's ``/var/task`` is read-only, so without shipped ``.pyc`` files Python recompiles every module of
ours on each cold start (measured: 70-100 ms of the handlers' init, see docs/PERFORMANCE.md). The staged
copy leaves out the local runner and the CLI, and is compiled by an interpreter of the runtime's version
(``unchecked-hash`` bytecode, file names as in ``/var/task``), so the asset is the same on every synth of
the same sources. Each content gets its own folder (named by a digest of the sources and the compiler),
built aside and renamed into place, so concurrent synths never disturb each other and an unchanged tree
is not copied again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from layers.build import BUILD_DIR, find_target_python, precompile

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"
STAGING_DIR = BUILD_DIR / "functions"
LEFT_OUT = frozenset({"emrex_emc/local", "emrex_emc/commands", "emrex_emc/cli.py"})
"""Relative paths never deployed: local runner, mock EMP, demo apps and the operator CLI."""
LAMBDA_TASK_ROOT = "/var/task"


NOT_DEPLOYED_SUFFIXES = (".pyc", ".egg-info", ".po")
"""Bytecode is compiled here; translation sources are compiled into the ``.mo`` files that are deployed."""


def _is_left_out(relative: str, name: str) -> bool:
    return name == "__pycache__" or name.endswith(NOT_DEPLOYED_SUFFIXES) or relative in LEFT_OUT


def _deployable_files(source: Path) -> list[Path]:
    files: list[Path] = []
    for directory, dirnames, filenames in os.walk(source):
        base = Path(directory).relative_to(source)
        dirnames[:] = sorted(d for d in dirnames if not _is_left_out((base / d).as_posix(), d))
        files += [base / f for f in sorted(filenames) if not _is_left_out((base / f).as_posix(), f)]
    return files


def _digest(source: Path, files: list[Path], python: str | None) -> str:
    digest = hashlib.sha256(f"compiler={python and Path(python).name}\n".encode())
    for relative in files:
        digest.update(relative.as_posix().encode() + b"\0" + (source / relative).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def stage_function_code(source: Path = FUNCTIONS_DIR, staging_root: Path = STAGING_DIR) -> tuple[Path, bool]:
    """The deployable copy of ``source`` under ``staging_root`` (built once per content) and whether it is compiled."""
    python = find_target_python()
    files = _deployable_files(source)
    final = staging_root / _digest(source, files, python)
    if final.is_dir():
        return final, python is not None
    staging_root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=staging_root))
    try:
        for relative in files:
            (building / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relative, building / relative)
        if python is not None:
            precompile(building, python, strip_prefix=building, prepend_prefix=LAMBDA_TASK_ROOT)
        building.chmod(0o755)
        try:
            building.rename(final)
        except OSError:  # another synth finished the same content first
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final, python is not None
