"""The function code asset: what is deployed, and its bytecode."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.function_code import LAMBDA_TASK_ROOT, stage_function_code
from layers.build import find_target_python

pytestmark = pytest.mark.xdist_group("infra")


def test_staging_leaves_out_local_tools_and_stale_bytecode(tmp_path: Path) -> None:
    source = tmp_path / "functions"
    for relative in (
        "emrex_emc/settings.py",
        "emrex_emc/local/runner.py",
        "emrex_emc/commands/verify.py",
        "emrex_emc/cli.py",
        "callback/handler.py",
        "callback/__pycache__/handler.cpython-311.pyc",
    ):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text("X = 1\n")

    staged, _ = stage_function_code(source, tmp_path / "staged")

    files = {path.relative_to(staged).as_posix() for path in staged.rglob("*.py")}
    assert files == {"emrex_emc/settings.py", "callback/handler.py"}
    assert not list(staged.rglob("*.cpython-311.pyc"))


@pytest.mark.skipif(find_target_python() is None, reason="no interpreter of the Lambda runtime's version here")
def test_bytecode_is_precompiled_for_the_runtime_with_lambda_file_names(tmp_path: Path) -> None:
    source = tmp_path / "functions"
    (source / "callback").mkdir(parents=True)
    (source / "callback" / "handler.py").write_text("def handler(event, context):\n    return 1\n")

    staged, compiled = stage_function_code(source, tmp_path / "staged")
    again, _ = stage_function_code(source, tmp_path / "staged-again")

    assert compiled
    (pyc,) = (staged / "callback" / "__pycache__").glob("handler.cpython-313.pyc")
    assert f"{LAMBDA_TASK_ROOT}/callback/handler.py".encode() in pyc.read_bytes()  # names as Lambda sees them
    assert str(tmp_path).encode() not in pyc.read_bytes()
    (twin,) = (again / "callback" / "__pycache__").glob("handler.cpython-313.pyc")
    assert pyc.read_bytes() == twin.read_bytes()  # same sources, same asset hash


def test_staging_is_reused_and_safe_when_synths_run_at_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    source = tmp_path / "functions"
    (source / "callback").mkdir(parents=True)
    (source / "callback" / "handler.py").write_text("X = 1\n")
    root = tmp_path / "staged"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: stage_function_code(source, root)[0], range(4)))

    assert len(set(results)) == 1
    assert [p.name for p in root.iterdir()] == [results[0].name]  # no half-built folders left behind
    (source / "callback" / "handler.py").write_text("X = 2\n")
    changed, _ = stage_function_code(source, root)
    assert changed != results[0] and (changed / "callback" / "handler.py").read_text() == "X = 2\n"
