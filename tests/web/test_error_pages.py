"""The page surface's error table (web/errors.py): every row renders, and the codes without a row are the
verdicts that end as a recorded outcome, never raised by the web layer or a handler."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.web.errors import PAGES, RECORDED, error_page, page_of
from emrex_emc.web.texts import TEXTS

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def raised_codes(path: Path) -> set[ErrorCode]:
    """``ErrorCode.X`` named in the ``raise`` statements of a module."""
    codes = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                named = isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name)
                if named and part.value.id == "ErrorCode":
                    codes.add(ErrorCode[part.attr])
    return codes


@pytest.mark.parametrize("code", sorted(PAGES), ids=str)
def test_every_row_renders_its_status_and_texts(code: ErrorCode) -> None:
    spec = PAGES[code]
    for key in (spec.title, spec.body, spec.advice):
        assert key is None or key in TEXTS, key
    response = error_page(EmrexError(code, "<script>x</script>"), lang="en")
    assert response.status == spec.status
    assert code.value in response.body and "<script>x" not in response.body


def test_the_web_layer_and_the_handlers_raise_only_codes_with_a_row() -> None:
    modules = [*(FUNCTIONS / "emrex_emc" / "web").glob("*.py"), *FUNCTIONS.glob("*/handler.py")]
    raised = set().union(*(raised_codes(path) for path in modules))
    assert raised  # the scan sees the refusals (FORM_INVALID, CSRF_INVALID, ...)
    assert not raised & RECORDED, sorted(raised & RECORDED)


def test_a_recorded_verdict_that_still_reached_a_page_gets_the_generic_refusal() -> None:
    assert ErrorCode.SIGNATURE_INVALID in RECORDED and ErrorCode.CSRF_INVALID not in RECORDED
    response = error_page(EmrexError(ErrorCode.SIGNATURE_INVALID, "bad"), lang="en")
    assert response.status == 400
    assert "SIGNATURE_INVALID" in response.body


def test_only_the_refusals_of_a_choice_lead_back_to_the_chooser() -> None:
    assert {code for code in ErrorCode if page_of(code).back_to_chooser} == {
        ErrorCode.CSRF_INVALID,
        ErrorCode.EMP_UNKNOWN,
    }
