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


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


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
    assert imported_modules(source) == {"boto3", "emrex_emc.web.http"}


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
