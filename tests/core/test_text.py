"""clip(): what travels on from outside is one bounded, printable line."""

from hypothesis import given
from hypothesis import strategies as st

from emrex_emc.core.text import ELLIPSIS, MAX_FIELD_CHARS, clip, is_clean


def test_short_clean_text_is_kept() -> None:
    assert clip("Universitetet i Oslo") == "Universitetet i Oslo"


def test_long_text_is_cut_with_an_ellipsis() -> None:
    clipped = clip("x" * 450_000)
    assert len(clipped) == MAX_FIELD_CHARS
    assert clipped.endswith(ELLIPSIS)


def test_terminal_escapes_line_breaks_bidi_and_surrogates_are_removed() -> None:
    assert clip("a\x1b[31mred\x1b[0m\r\nforged log line") == "a [31mred [0m forged log line"
    assert clip("evil\u202egnp.exe") == "evil gnp.exe"
    assert clip("x\ud800y") == "x y"
    assert clip("zero\u200bwidth") == "zero width"


def test_non_strings_are_shown() -> None:
    assert clip(None) == "None"
    assert clip(12) == "12"


@given(st.text(), st.integers(min_value=1, max_value=500))
def test_any_text_becomes_one_bounded_clean_line(text: str, limit: int) -> None:
    clipped = clip(text, limit)
    assert len(clipped) <= limit
    assert is_clean(clipped)
    clipped.encode("utf-8")  # never a lone surrogate
