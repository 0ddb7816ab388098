"""Lambda: Secrets Manager's rotation function for the EMC secret (a new state-signing key).

Secrets Manager invokes it once per step (``createSecret``, ``setSecret``, ``testSecret``,
``finishSecret``): at the stack's creation (which fills the empty ``state_keys``), on the schedule and on
``aws secretsmanager rotate-secret``. The steps are in :mod:`emrex_emc.adapters.secret_rotation`; a failed
step raises, Secrets Manager retries the rotation and the Lambda error alarm fires.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.secret_rotation import SecretRotation, retired_key_window
from emrex_emc.core.text import clip
from emrex_emc.observability import logger
from emrex_emc.settings import Settings


@cache
def _rotation() -> SecretRotation:
    settings = Settings.from_env(function="secret_rotation")
    window = retired_key_window(settings.session_ttl_seconds, settings.secret_max_age_seconds)
    return SecretRotation(client("secretsmanager"), settings.secret_name, keep_retired_seconds=window)


def reset() -> None:
    """Forget the cached wiring (tests switch environments)."""
    _rotation.cache_clear()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> None:
    step = clip(event.get("Step"), 40)
    logger.info("rotation step", extra={"step": step, "version": clip(event.get("ClientRequestToken"), 64)})
    try:
        _rotation().handle_event(event)
    except Exception:  # logged as JSON with its traceback; Secrets Manager retries the step
        logger.exception("rotation step failed", extra={"step": step})
        raise
    logger.info("rotation step done", extra={"step": step})
