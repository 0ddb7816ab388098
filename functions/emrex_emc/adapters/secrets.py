"""Secrets Manager: the state-signing keys and the enrolment API token.

Secret layout (JSON)::

    {"state_keys": {"<kid>": "<base64 of 32+ bytes>"}, "state_key_id": "<kid>", "api_token": "<token>"}

``state_key_id`` signs; every listed key verifies (rotation). A malformed secret fails loudly with a
message naming the field, never echoing secret material.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from emrex_emc.core.state import MIN_KEY_BYTES, StateSigner

MIN_API_TOKEN_CHARS = 16


class SecretFormatError(ValueError):
    """The secret exists but does not have the documented layout."""


@dataclass(frozen=True)
class SecretBundle:
    state_keys: dict[str, bytes]
    state_key_id: str
    api_token: str

    def state_signer(self) -> StateSigner:
        return StateSigner(self.state_keys, self.state_key_id)

    def __repr__(self) -> str:  # never print key material or the token
        return f"SecretBundle(state_key_ids={sorted(self.state_keys)!r}, state_key_id={self.state_key_id!r})"


def parse_secret_bundle(secret_string: str) -> SecretBundle:
    try:
        data: Any = json.loads(secret_string)
    except ValueError as exc:
        raise SecretFormatError("secret is not valid JSON") from exc
    if not isinstance(data, dict):
        raise SecretFormatError("secret must be a JSON object")
    raw_keys = data.get("state_keys")
    if not isinstance(raw_keys, dict) or not raw_keys:
        raise SecretFormatError("state_keys must be a non-empty object of key id -> base64 key")
    keys: dict[str, bytes] = {}
    for key_id, encoded in raw_keys.items():
        if not isinstance(encoded, str):
            raise SecretFormatError(f"state_keys[{key_id!r}] must be a base64 string")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SecretFormatError(f"state_keys[{key_id!r}] is not valid base64") from exc
        if len(key) < MIN_KEY_BYTES:
            raise SecretFormatError(f"state_keys[{key_id!r}] must decode to at least {MIN_KEY_BYTES} bytes")
        keys[str(key_id)] = key
    key_id = data.get("state_key_id")
    if not isinstance(key_id, str) or key_id not in keys:
        raise SecretFormatError("state_key_id must name one of state_keys")
    token = data.get("api_token")
    if not isinstance(token, str) or len(token) < MIN_API_TOKEN_CHARS:
        raise SecretFormatError(f"api_token must be a string of at least {MIN_API_TOKEN_CHARS} characters")
    bundle = SecretBundle(state_keys=keys, state_key_id=key_id, api_token=token)
    try:
        bundle.state_signer()
    except ValueError as exc:  # e.g. a key id with characters that cannot go into a token
        raise SecretFormatError(str(exc)) from exc
    return bundle


def load_secret_bundle(client: Any, secret_name: str) -> SecretBundle:
    """Read and validate the secret (``client`` is a boto3 ``secretsmanager`` client)."""
    response = client.get_secret_value(SecretId=secret_name)
    secret_string = response.get("SecretString")
    if not isinstance(secret_string, str):
        raise SecretFormatError(f"secret {secret_name!r} has no SecretString")
    return parse_secret_bundle(secret_string)
