"""What the browser tests do without Chromium: fail in CI, skip on a developer's machine (no browser needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.stack import no_browser


@pytest.fixture
def chromium(tmp_path: Path) -> str:
    path = tmp_path / "chromium"
    path.write_bytes(b"")
    return str(path)


@pytest.mark.parametrize("environ", [{}, {"CI": "1"}, {"CI": "true"}])
def test_with_chromium_the_browser_tests_run(chromium: str, environ: dict[str, str]) -> None:
    assert no_browser(chromium, environ) is None


@pytest.mark.parametrize("ci", ["1", "true", "TRUE", "yes"])
def test_in_ci_a_missing_chromium_is_a_failure(tmp_path: Path, ci: str) -> None:
    missing = no_browser(str(tmp_path / "chromium"), {"CI": ci})
    assert missing is not None and missing.fail
    assert missing.reason.startswith("CI is set but there is no Chromium at ")
    assert "Debian package 'chromium'" in missing.reason


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "0"}, {"CI": "false"}])
def test_outside_ci_a_missing_chromium_is_a_skip(tmp_path: Path, environ: dict[str, str]) -> None:
    missing = no_browser(str(tmp_path / "chromium"), environ)
    assert missing is not None and not missing.fail
    assert str(tmp_path / "chromium") in missing.reason and "Debian package 'chromium'" in missing.reason


def test_ci_says_it_is_ci() -> None:
    """``.ci/run`` sets ``CI`` itself, so the rule holds whichever service runs it."""
    script = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    assert "\nexport CI=1" in script
