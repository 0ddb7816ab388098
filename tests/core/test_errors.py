"""EmrexError and Notice: whatever a message was built from, it is one bounded, clean line."""

from __future__ import annotations

import pytest

from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.text import ELLIPSIS, MAX_MESSAGE_CHARS, is_clean

HOSTILE = "uri=\x1b[2J\r\nforged line \u202e" + "x" * 450_000


def test_short_messages_are_kept_as_they_are() -> None:
    error = EmrexError(ErrorCode.SIGNATURE_INVALID, "the signature does not verify (SHA-256 ab, 'quoted')")
    assert error.message == "the signature does not verify (SHA-256 ab, 'quoted')"
    assert str(error) == "SIGNATURE_INVALID: the signature does not verify (SHA-256 ab, 'quoted')"
    assert Notice("SIGNATURE_SHA1", "uses SHA-1").message == "uses SHA-1"


@pytest.mark.parametrize(
    "make", [lambda m: EmrexError(ErrorCode.NOT_ELMO, m).message, lambda m: Notice("X", m).message]
)
def test_a_hostile_message_is_clipped_and_cleaned_when_it_is_made(make) -> None:  # type: ignore[no-untyped-def]
    message = make(HOSTILE)
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.endswith(ELLIPSIS)
    assert is_clean(message)
    assert message.startswith("uri= [2J forged line xxx")


def test_the_exception_text_and_json_carry_the_clipped_message() -> None:
    error = EmrexError(ErrorCode.NOT_ELMO, HOSTILE)
    assert str(error) == f"NOT_ELMO: {error.message}"
    assert error.to_json() == {"code": "NOT_ELMO", "message": error.message}
    assert len(str(error)) < MAX_MESSAGE_CHARS + 20
