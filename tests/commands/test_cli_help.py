from __future__ import annotations

import pytest

from emrex_emc.cli import build_parser, main
from emrex_emc.commands import described

COMMANDS = ["verify", "registry", "local", "secret", "transfers"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_no_restructuredtext_markup(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "``" not in shown and ":func:" not in shown and ":class:" not in shown


def test_markup_is_left_out_and_the_text_kept() -> None:
    assert described("``show`` takes :func:`~a.b` and :class:`C`") == "show takes a.b and C"
    assert described(None) == ""


def test_the_overview_names_every_secret_action(capsys: pytest.CaptureFixture[str]) -> None:
    build_parser().print_help()
    overview = " ".join(capsys.readouterr().out.split())
    assert "state-signing key" in overview and "enrolment API" in overview and "admin token" in overview
