"""JSON from outside parties (EMPs, registries, enrolment systems) read so that its shape cannot crash us.

``json.loads`` raises ``RecursionError``, not ``ValueError``, for a document nested deeper than the
interpreter's stack: ``[[[[…]]]]`` of a few KB, well inside every size cap. Every reader of outside JSON
already turns a ``ValueError`` into its precise refusal; :func:`parse_json` makes deep nesting one of those.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

NESTED_TOO_DEEPLY = "nested too deeply"


def parse_json(text: str | bytes, *, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """``json.loads(text)``; ``ValueError`` for malformed JSON and for JSON nested too deeply to parse."""
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except RecursionError:
        raise ValueError(NESTED_TOO_DEEPLY) from None
