"""Text that came from outside, made safe to carry on into errors, logs, events, pages and terminals.

Documents, certificates, registries and EMPs are hostile: any value they give us may be huge, hold
control characters (terminal escapes, line breaks that forge log lines), bidirectional overrides or
lone surrogates (which cannot be encoded as UTF-8 and make a DynamoDB or JSON write fail). Every such
value is passed through :func:`clip` at the point it is put into something we keep or show.
"""

from __future__ import annotations

import re

MAX_FIELD_CHARS = 200
"""Default length of one value copied from outside into a message, an outcome or an event."""
MAX_MESSAGE_CHARS = 600
"""Backstop for a whole human message (error or notice) built around such values."""
ELLIPSIS = "…"

_BEYOND_C0 = (
    "\x7f-\x9f"  # DEL and C1 controls (CSI)
    "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff"  # zero-width, bidi, separators
    "\ud800-\udfff"  # lone surrogates
    "\ufff9-\ufffb"  # interlinear annotation controls
)
_UNSAFE = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")  # C0 controls: ESC sequences, CR/LF, NUL
_UNSAFE_IN_JSON = re.compile(f"[{_BEYOND_C0}]")
_SPACES = re.compile(r" {2,}")


def clip(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    """``value`` as one line of at most ``limit`` characters, without control or invisible format characters.

    Unsafe characters become spaces, runs of spaces collapse, and a cut value ends with ``…`` (counted in
    ``limit``). Never raises: ``None`` and non-strings are shown through ``str()``.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit * 4:  # never scan megabytes to keep 200 characters
        text = text[: limit * 4]
    cleaned = _SPACES.sub(" ", _UNSAFE.sub(" ", text)).strip()
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: max(0, limit - len(ELLIPSIS))].rstrip() + ELLIPSIS


def is_clean(value: str) -> bool:
    """Whether ``value`` holds no character :func:`clip` would replace."""
    return _UNSAFE.search(value) is None


def json_for_terminal(json_text: str) -> str:
    """JSON from ``json.dumps(..., ensure_ascii=False)`` with every character :func:`clip` would replace escaped.

    ``json.dumps`` escapes only C0 controls; C1 controls (a terminal's 8-bit CSI), bidirectional overrides
    and the like pass through raw. They can only occur inside strings, where ``\\uXXXX`` is their JSON
    spelling, so the result is the same JSON and non-ASCII letters stay readable.
    """
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", json_text)
