"""The EMC's one secret: state-signing keys and the API's bearer tokens (pure: parsing only).

Layout (JSON)::

    {"state_keys": {"<kid>": "<base64 of 32+ bytes>"}, "state_key_id": "<kid>", "api_token": "<token>",
     "api_token_previous": "<token>", "admin_token": "<token>"}

``state_key_id`` signs; every listed key verifies (rotation). ``api_token_previous`` is optional: while it
is set, the enrolment API accepts it next to ``api_token`` (a token rollover). ``admin_token`` is optional
(a rotation adds one): only it may erase an applicant; without it nobody can. The layout is checked
declaratively (:mod:`emrex_emc.core.schema`); a malformed secret fails loudly with a message naming the
field, never echoing secret material.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emrex_emc.core.errors import EmrexError
from emrex_emc.core.json_input import parse_json
from emrex_emc.core.schema import FieldProblem, Schema, Text, validate
from emrex_emc.core.state import MIN_KEY_BYTES
from emrex_emc.core.text import clip

MIN_API_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 512
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class SecretFormatError(ValueError):
    """The secret exists but does not have the documented layout."""


@dataclass(frozen=True)
class SecretBundle:
    """The contents of the one secret: state-signing keys and bearer tokens."""

    state_keys: Mapping[str, bytes]
    state_key_id: str
    api_token: str
    api_token_previous: str | None = None
    """Still accepted during a token rollover (``emrex-emc secret rotate-api-token``) until dropped."""
    admin_token: str | None = None
    """The operators' token for ``DELETE /applicants/{applicant_id}`` (``emrex-emc secret rotate-admin-token``)."""

    def api_tokens(self) -> tuple[str, ...]:
        """Every bearer token the enrolment API accepts now."""
        return (self.api_token,) if self.api_token_previous is None else (self.api_token, self.api_token_previous)

    def admin_tokens(self) -> tuple[str, ...]:
        return () if self.admin_token is None else (self.admin_token,)

    def __repr__(self) -> str:  # never print key material or a token
        return f"SecretBundle(state_key_ids={sorted(self.state_keys)!r}, state_key_id={self.state_key_id!r})"


@dataclass(frozen=True)
class _StateKeys:
    """``state_keys``: a non-empty object of key id -> base64 of at least :data:`MIN_KEY_BYTES` bytes."""

    def read(self, data: Mapping[str, Any], name: str) -> dict[str, bytes]:
        raw = data.get(name)
        if not isinstance(raw, dict) or not raw:
            raise FieldProblem("must be a non-empty object of key id -> base64 key")
        keys: dict[str, bytes] = {}
        for key_id, encoded in raw.items():
            where = f"[{clip(key_id, 40)!r}]"
            if not _KEY_ID.fullmatch(str(key_id)):
                raise FieldProblem(f"{where}: a key id must be 1-32 characters of [A-Za-z0-9_-]")
            if not isinstance(encoded, str):
                raise FieldProblem(f"{where} must be a base64 string")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise FieldProblem(f"{where} is not valid base64") from None
            if len(key) < MIN_KEY_BYTES:
                raise FieldProblem(f"{where} must decode to at least {MIN_KEY_BYTES} bytes")
            keys[str(key_id)] = key
        return keys


def _token(value: str) -> str:
    if len(value) < MIN_API_TOKEN_CHARS:
        raise FieldProblem(f"must be a string of at least {MIN_API_TOKEN_CHARS} characters")
    return value


SCHEMA: Schema = {
    "state_keys": _StateKeys(),
    "state_key_id": Text(32, pattern=_KEY_ID, pattern_message="must be 1-32 characters of [A-Za-z0-9_-]"),
    "api_token": Text(MAX_TOKEN_CHARS, check=_token),
    "api_token_previous": Text(MAX_TOKEN_CHARS, optional=True, check=_token),
    "admin_token": Text(MAX_TOKEN_CHARS, optional=True, check=_token),
}


def parse_secret_bundle(secret_string: str) -> SecretBundle:
    try:
        data: Any = parse_json(secret_string)
    except ValueError:
        raise SecretFormatError("secret is not valid JSON") from None
    try:
        values = validate(data, SCHEMA, what="secret", ignore_unknown=True)
    except EmrexError as error:
        raise SecretFormatError(error.message) from None
    keys: dict[str, bytes] = values["state_keys"]
    if values["state_key_id"] not in keys:
        raise SecretFormatError("state_key_id must name one of state_keys")
    return SecretBundle(
        state_keys=keys,
        state_key_id=values["state_key_id"],
        api_token=values["api_token"],
        api_token_previous=values["api_token_previous"] or None,
        admin_token=values["admin_token"] or None,
    )
