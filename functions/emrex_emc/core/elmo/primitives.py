"""The small values of the ELMO model and the helpers that give every model type its JSON form: identifiers,
texts in a language, dates as ISO-8601 strings, decimals as canonical strings (see :mod:`emrex_emc.core.elmo.model`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol


def decimal_str(value: Decimal) -> str:
    """Canonical decimal text: no exponent, no trailing zeros (``10.000`` -> ``10``, ``7.50`` -> ``7.5``)."""
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", ""} else text


def iso_or_none(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def decimal_or_none(value: Decimal | None) -> str | None:
    return decimal_str(value) if value is not None else None


class _JsonValue(Protocol):
    def to_json(self) -> dict[str, Any]: ...


def json_list(items: Sequence[_JsonValue]) -> list[dict[str, Any]]:
    # most lists of a course are empty: skip the comprehension's frame (a 300-course document makes ~3000 calls)
    return [item.to_json() for item in items] if items else []


@dataclass(frozen=True)
class Identifier:
    value: str
    type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class LocalizedText:
    """A title or description in one language (``lang`` is ``xml:lang``, absent -> None)."""

    value: str
    lang: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"lang": self.lang, "value": self.value}


def preferred_text(items: tuple[LocalizedText, ...], lang: str = "en") -> str | None:
    """The text in ``lang`` if present, else the first one."""
    for item in items:
        if item.lang and item.lang.lower().startswith(lang):
            return item.value
    return items[0].value if items else None
