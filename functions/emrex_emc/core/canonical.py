"""The one canonical JSON encoding of the EMC: what is stored, hashed and published.

Sorted keys, no insignificant whitespace, UTF-8 (non-ASCII kept as is): equal values always give equal
bytes, so stored results can be hashed and diffed, and an event's ``Detail`` is stable.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical_json(value: Any) -> bytes:
    return canonical_text(value).encode("utf-8")
