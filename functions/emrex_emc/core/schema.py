"""A small declarative validator for JSON objects from outside (the enrolment API body, the secret).

A schema maps each field name to a :class:`Text` rule; :func:`validate` checks a decoded JSON value
against it and returns the cleaned strings, or raises ``EmrexError`` naming the first bad field with a
precise reason (``"birth_date must be a date in the form YYYY-MM-DD"``). Unknown fields are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.text import clip

_UNREADABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters and lone surrogates (valid in JSON escapes, but not text anyone could store)."""


class FieldProblem(Exception):
    """Raised by a :attr:`Text.check`: what is wrong with the value (and the code, if not VALIDATION_FAILED)."""

    def __init__(self, reason: str, code: ErrorCode = ErrorCode.VALIDATION_FAILED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Text:
    """A string field, stripped of surrounding whitespace."""

    max_chars: int
    optional: bool = False
    """Absent, null and empty give ``""``."""
    allow_empty: bool = False
    """Present but empty (after stripping) is accepted."""
    pattern: re.Pattern[str] | None = None
    pattern_message: str = ""
    """The reason given when ``pattern`` does not match the whole value."""
    check: Callable[[str], str] | None = None
    """Further rule: returns the value to keep (e.g. normalized) or raises :class:`FieldProblem`."""

    def read(self, data: Mapping[str, Any], name: str) -> str:
        value = data.get(name)
        if value is None or (self.optional and value == ""):
            if self.optional:
                return ""
            raise FieldProblem("is required")
        if not isinstance(value, str):
            raise FieldProblem("must be a string")
        value = value.strip()
        if not value and not self.allow_empty:
            raise FieldProblem("must not be empty")
        if len(value) > self.max_chars:
            raise FieldProblem(f"must be at most {self.max_chars} characters")
        if _UNREADABLE.search(value):
            raise FieldProblem("must not contain control characters or invalid Unicode")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise FieldProblem(self.pattern_message)
        return self.check(value) if self.check is not None else value


class Rule(Protocol):
    """A field rule: the field's cleaned value, or :class:`FieldProblem`. :class:`Text` is the common one."""

    def read(self, data: Mapping[str, Any], name: str) -> Any: ...


Schema = Mapping[str, Rule]


def validate(data: Any, schema: Schema, *, what: str = "body", ignore_unknown: bool = False) -> dict[str, Any]:
    """The cleaned value of every field of ``schema``; raises ``EmrexError`` for the first problem.

    Fields the schema does not name are refused, unless ``ignore_unknown`` (a document that newer code
    may extend, like the secret).
    """
    if not isinstance(data, dict):
        raise _invalid(what, FieldProblem("must be a JSON object"))
    unknown = sorted(str(key) for key in data if key not in schema)
    if unknown and not ignore_unknown:
        raise _invalid(clip(unknown[0], 64), FieldProblem("unknown field"))
    values: dict[str, Any] = {}
    for name, rule in schema.items():
        try:
            values[name] = rule.read(data, name)
        except FieldProblem as problem:
            raise _invalid(name, problem) from None
    return values


def _invalid(field: str, problem: FieldProblem) -> EmrexError:
    separator = "" if problem.reason.startswith("[") else " "  # "state_keys['k1'] is ...": a part of the field
    return EmrexError(problem.code, f"{field}{separator}{problem.reason}", field=field)
