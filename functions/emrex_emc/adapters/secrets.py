"""Secrets Manager: the EMC's secret (layout: :mod:`emrex_emc.core.secret`), cached with a maximum age.

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

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emrex_emc.core.secret import SecretBundle, SecretFormatError, parse_secret_bundle
from emrex_emc.core.text import clip

if TYPE_CHECKING:
    from emrex_emc.settings import Settings

logger = logging.getLogger(__name__)

FORCED_REFRESH_INTERVAL_SECONDS = 30.0
"""At most one early re-read (an unknown state key id) per this many seconds per instance."""
RETRY_AFTER_FAILURE_SECONDS = 30.0
"""After a failed re-read the previous secret stays in use; the next attempt comes after this long."""


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


def function_secret(secretsmanager: Any, settings: Settings) -> SecretProvider:
    """The stack's secret as the functions read it: ``EMREX_SECRET_NAME``, re-read after
    ``EMREX_SECRET_MAX_AGE_SECONDS``."""
    return SecretProvider(secretsmanager, settings.secret_name, max_age_seconds=settings.secret_max_age_seconds)
