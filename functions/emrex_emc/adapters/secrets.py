"""Secrets Manager: the state-signing keys and the enrolment API token, cached with a maximum age.

Secret layout (JSON)::

    {"state_keys": {"<kid>": "<base64 of 32+ bytes>"}, "state_key_id": "<kid>", "api_token": "<token>",
     "api_token_previous": "<token>"}

``state_key_id`` signs; every listed key verifies (rotation). ``api_token_previous`` is optional: while it
is set, the enrolment API accepts it next to ``api_token`` (a token rollover). A malformed secret fails
loudly with a message naming the field, never echoing secret material.

:class:`SecretProvider` keeps the parsed secret for ``max_age_seconds`` (measured on an injected
monotonic clock), so a rotated secret reaches every warm instance within that time, and re-reads it early,
at most once per :data:`FORCED_REFRESH_INTERVAL_SECONDS`, when a state names a key id it does not know (a
state signed by an instance that already has the new key). The interval bounds what forged key ids can
cost: one Secrets Manager read per 30 s per instance, whatever the request rate.

Why not Powertools ``parameters.get_secret(max_age=…)`` (measured on Python 3.13 with the layer, as
deployed): (1) the layer ships Powertools' logging and metrics only (``layers/build.py`` KEEP_ONLY), and
``utilities.parameters`` imports in 3.3-7.7 ms after Logger and Metrics (``-X importtime``: it loads its
DynamoDB, AppConfig and SSM providers and ``boto3.dynamodb.conditions`` too), on start_session's tracked
cold start; (2) its module-level ``get_secret`` creates its own boto3 session, outside the one shared
session of :mod:`emrex_emc.adapters.aws`: 17-28 ms for that client instead of 6-7 ms; (3) its cache ages on
the wall clock and takes no test clock, and it has no rate-limited early refresh, which we would still
write: that is most of this class. This module and the rotating signer add ~1.3 ms of imports and
~0.6 ms of wiring to start_session's init.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emrex_emc.core.state import MIN_KEY_BYTES, StateSigner
from emrex_emc.core.text import clip

logger = logging.getLogger(__name__)

MIN_API_TOKEN_CHARS = 16
FORCED_REFRESH_INTERVAL_SECONDS = 30.0
"""At most one early re-read (an unknown state key id) per this many seconds per instance."""
RETRY_AFTER_FAILURE_SECONDS = 30.0
"""After a failed re-read the previous secret stays in use; the next attempt comes after this long."""


class SecretFormatError(ValueError):
    """The secret exists but does not have the documented layout."""


@dataclass(frozen=True)
class SecretBundle:
    state_keys: dict[str, bytes]
    state_key_id: str
    api_token: str
    api_token_previous: str | None = None
    """Still accepted during a token rollover (``emrex-emc secret rotate-api-token``) until dropped."""

    def state_signer(self) -> StateSigner:
        return StateSigner(self.state_keys, self.state_key_id)

    def api_tokens(self) -> tuple[str, ...]:
        """Every bearer token the enrolment API accepts now."""
        return (self.api_token,) if self.api_token_previous is None else (self.api_token, self.api_token_previous)

    def __repr__(self) -> str:  # never print key material or a token
        return f"SecretBundle(state_key_ids={sorted(self.state_keys)!r}, state_key_id={self.state_key_id!r})"


def parse_secret_bundle(secret_string: str) -> SecretBundle:
    try:
        data: Any = json.loads(secret_string)
    except ValueError as exc:
        raise SecretFormatError("secret is not valid JSON") from exc
    if not isinstance(data, dict):
        raise SecretFormatError("secret must be a JSON object")
    keys = _state_keys(data.get("state_keys"))
    key_id = data.get("state_key_id")
    if not isinstance(key_id, str) or key_id not in keys:
        raise SecretFormatError("state_key_id must name one of state_keys")
    token = _api_token(data.get("api_token"), "api_token")
    previous = data.get("api_token_previous")
    bundle = SecretBundle(
        state_keys=keys,
        state_key_id=key_id,
        api_token=token,
        api_token_previous=None if previous is None else _api_token(previous, "api_token_previous"),
    )
    try:
        bundle.state_signer()
    except ValueError as exc:  # e.g. a key id with characters that cannot go into a token
        raise SecretFormatError(str(exc)) from exc
    return bundle


def _state_keys(raw_keys: Any) -> dict[str, bytes]:
    if not isinstance(raw_keys, dict) or not raw_keys:
        raise SecretFormatError("state_keys must be a non-empty object of key id -> base64 key")
    keys: dict[str, bytes] = {}
    for key_id, encoded in raw_keys.items():
        name = f"state_keys[{clip(key_id, 40)!r}]"
        if not isinstance(encoded, str):
            raise SecretFormatError(f"{name} must be a base64 string")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SecretFormatError(f"{name} is not valid base64") from exc
        if len(key) < MIN_KEY_BYTES:
            raise SecretFormatError(f"{name} must decode to at least {MIN_KEY_BYTES} bytes")
        keys[str(key_id)] = key
    return keys


def _api_token(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) < MIN_API_TOKEN_CHARS:
        raise SecretFormatError(f"{field} must be a string of at least {MIN_API_TOKEN_CHARS} characters")
    return value


def load_secret_bundle(client: Any, secret_name: str) -> SecretBundle:
    """Read and validate the AWSCURRENT version (``client`` is a boto3 ``secretsmanager`` client).

    The stage is named although it is the default: moto (local stack, tests) keeps answering with the
    version it had before a rotation moved AWSCURRENT with ``UpdateSecretVersionStage``.
    """
    response = client.get_secret_value(SecretId=secret_name, VersionStage="AWSCURRENT")
    secret_string = response.get("SecretString")
    if not isinstance(secret_string, str):
        raise SecretFormatError(f"secret {clip(secret_name)!r} has no SecretString")
    return parse_secret_bundle(secret_string)


class SecretProvider:
    """The secret, read once and then again once it is ``max_age_seconds`` old (thread-safe).

    The first read happens in the constructor, so a missing or malformed secret fails the first request
    loudly. A later failed re-read keeps the previous secret (logged as an error) and is retried after
    :data:`RETRY_AFTER_FAILURE_SECONDS`: a Secrets Manager hiccup never turns a working instance into a
    failing one.
    """

    def __init__(
        self,
        client: Any,
        secret_name: str,
        *,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        forced_refresh_interval_seconds: float = FORCED_REFRESH_INTERVAL_SECONDS,
    ) -> None:
        self._client = client
        self._secret_name = secret_name
        self._max_age = max_age_seconds
        self._clock = clock
        self._forced_interval = forced_refresh_interval_seconds
        self._lock = threading.Lock()
        self._last_forced: float | None = None
        self._bundle = load_secret_bundle(client, secret_name)
        self._fresh_until = clock() + max_age_seconds

    def current(self) -> SecretBundle:
        with self._lock:
            now = self._clock()
            if now >= self._fresh_until:
                self._reload(now)
            return self._bundle

    def refresh_for_unknown_key(self, key_id: str) -> bool:
        """Whether the secret knows ``key_id`` after re-reading it, if one early re-read is due.

        Call only after a state or CSRF field named ``key_id`` and the current secret lacks it. Without a
        re-read (one happened less than the interval ago) the answer is about the secret as it is.
        """
        with self._lock:
            now = self._clock()
            if now >= self._fresh_until:
                self._reload(now)
            elif key_id not in self._bundle.state_keys and (
                self._last_forced is None or now - self._last_forced >= self._forced_interval
            ):
                self._last_forced = now
                self._reload(now)
            return key_id in self._bundle.state_keys

    def _reload(self, now: float) -> None:
        try:
            self._bundle = load_secret_bundle(self._client, self._secret_name)
        except Exception as exc:
            self._fresh_until = now + min(self._max_age, RETRY_AFTER_FAILURE_SECONDS)
            logger.error(
                "re-reading the secret failed; the previous one stays in use",
                extra={"error": type(exc).__name__, "detail": clip(exc)},
            )
            return
        self._fresh_until = now + self._max_age
