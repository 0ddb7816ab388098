"""The ``emrex-emc`` subcommands (each module: ``register(subparsers)``)."""

from __future__ import annotations

import re

_LITERAL = re.compile(r"``([^`]+)``")
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def described(docstring: str | None) -> str:
    """A command module's docstring as ``--help`` shows it: the reStructuredText markup left out."""
    return _ROLE.sub(r"\1", _LITERAL.sub(r"\1", docstring or ""))
