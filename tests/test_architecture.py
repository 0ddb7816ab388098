"""The layer rules of docs/ARCHITECTURE.md, checked on every import statement of the code (lazy ones too).

core is pure; adapters speak core types to one outside thing each; services use core and ports only;
web parses and renders; only handlers wire everything together (and only they use Powertools).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"
PACKAGE = FUNCTIONS / "emrex_emc"
OUTSIDE_LIBRARIES = ("boto3", "botocore", "aws_lambda_powertools", "httpx")

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": (
        *(f"emrex_emc.{layer}" for layer in ("adapters", "services", "web", "settings", "observability", "local")),
        "emrex_emc.commands",
        "emrex_emc.cli",
        *OUTSIDE_LIBRARIES,
        "markupsafe",
    ),
    "adapters": (
        *(f"emrex_emc.{layer}" for layer in ("services", "web", "observability", "local", "commands", "cli")),
        "aws_lambda_powertools",
    ),
    "services": (
        *(f"emrex_emc.{layer}" for layer in ("adapters", "web", "observability", "local", "commands", "cli")),
        *OUTSIDE_LIBRARIES,
    ),
    "web": (
        *(f"emrex_emc.{layer}" for layer in ("adapters", "services", "observability", "local", "commands", "cli")),
        *OUTSIDE_LIBRARIES,
    ),
}


def imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Every module ``path`` imports, however it is written: ``import x``, ``from x import y`` (``x`` and
    ``x.y``, which may be a module), relative imports (resolved against ``package``, by default the file's
    own), and ``importlib.import_module("x")`` / ``__import__("x")`` with a constant name."""
    if package is None:
        package = ".".join(path.relative_to(FUNCTIONS).parent.parts)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def _absolute(module: str | None, level: int, package: str) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    anchor = parts[: len(parts) - (level - 1)]
    return ".".join([*anchor, *([module] if module else [])])


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in {"__import__", "import_module"}
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for module in sorted(imported_modules(path)):
            if any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN[layer]):
                found.append(f"{path.relative_to(FUNCTIONS)} imports {module}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_rules(layer: str) -> None:
    assert violations(layer) == []


def test_the_rules_see_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    import boto3\n    from emrex_emc.web.http import HttpRequest\n")
    assert imported_modules(source, "emrex_emc.services") >= {"boto3", "emrex_emc.web.http"}


@pytest.mark.parametrize(
    ("code", "seen"),
    [
        ("from ..adapters.aws import client", "emrex_emc.adapters.aws"),
        ("from .. import web", "emrex_emc.web"),
        ("from emrex_emc import adapters", "emrex_emc.adapters"),
        ("import importlib\nimportlib.import_module('boto3')", "boto3"),
        ("from importlib import import_module\nimport_module('httpx')", "httpx"),
        ("__import__('botocore')", "botocore"),
    ],
)
def test_the_rules_see_every_way_of_importing(tmp_path: Path, code: str, seen: str) -> None:
    source = tmp_path / "sneaky.py"
    source.write_text(f"def f():\n    {code.replace(chr(10), chr(10) + '    ')}\n")
    modules = imported_modules(source, "emrex_emc.services")
    assert seen in modules
    assert any(seen == banned or seen.startswith(banned + ".") for banned in FORBIDDEN["services"])


def test_settings_depend_on_core_only() -> None:
    ours = {module for module in imported_modules(PACKAGE / "settings.py") if module.startswith("emrex_emc")}
    assert all(module.startswith("emrex_emc.core.") for module in ours)


def _wiring_lines(path: Path) -> int:
    """Lines of a handler that are not blank, comments, imports or docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            skipped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                skipped.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    lines = path.read_text(encoding="utf-8").splitlines()
    return sum(
        1
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.strip().startswith("#") and number not in skipped
    )


@pytest.mark.parametrize("handler", sorted(FUNCTIONS.glob("*/handler.py")), ids=lambda path: path.parent.name)
def test_handlers_are_thin_wiring(handler: Path) -> None:
    assert _wiring_lines(handler) <= 60
    assert "aws_lambda_powertools" not in imported_modules(handler)  # through emrex_emc.observability only
