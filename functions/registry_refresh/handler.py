"""Lambda: the scheduled registry refresh (wiring only; the work is in ``services.registry_refresh``).

Fetches the registries (``EMREX_REGISTRY_URLS``, else ``EMREX_REGISTRY_URL``) and stores the snapshot as one
item of the table, then announces what changed (``services.registry_events``: EMP added / removed /
certificate changed, certificates expiring) through the outbox. A failed refresh with a snapshot in place does
not fail the invocation: it logs an error and emits ``RegistrySnapshotAgeSeconds``, which an alarm watches
against ``EMREX_REGISTRY_MAX_AGE_SECONDS``. Without any snapshot it raises, so the Lambda's Errors metric shows
it; so does an announcement that could not be queued (the next refresh queues the same events).
``{"force": true}`` fetches even while the snapshot is still fresh.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.outbox import RegistryOutbox
from emrex_emc.adapters.registry_fetch import RegistryFetcher
from emrex_emc.adapters.registry_store import BaselineStore, RegistryStore
from emrex_emc.core.errors import EmrexError
from emrex_emc.observability import (
    count,
    logger,
    metrics,
    report_announcement,
    report_registry_failure,
    report_registry_refresh,
)
from emrex_emc.services.registry_events import announce
from emrex_emc.services.registry_refresh import refresh_or_keep
from emrex_emc.settings import Settings


@cache
def _wiring() -> tuple[Settings, RegistryFetcher, RegistryStore, BaselineStore, RegistryOutbox]:
    settings = Settings.from_env(function="registry_refresh")
    dynamodb = client("dynamodb")
    store = RegistryStore(dynamodb, settings.table_name, consistent_read=True, cache_seconds=0)
    outbox = RegistryOutbox(dynamodb, settings.table_name, event_bus_name=settings.event_bus_name)
    return settings, RegistryFetcher(), store, BaselineStore(dynamodb, settings.table_name), outbox


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    _wiring.cache_clear()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    settings, fetcher, store, baselines, outbox = _wiring()
    now = datetime.now(UTC)
    force = isinstance(event, dict) and event.get("force") is True
    try:
        report = refresh_or_keep(
            fetcher=fetcher,
            store=store,
            source=settings.registry_urls,
            now=now,
            force=force,
            allow_loopback_http=settings.local_mode,
        )
    except EmrexError as error:
        report_registry_failure(error)
        raise
    report_registry_refresh(report, now=now)
    try:
        announcement = announce(
            report, baselines=baselines, outbox=outbox, now=now, warning_days=settings.cert_expiry_warning_days
        )
    except Exception:
        count("RegistryEventsFailed")
        logger.exception("registry events could not be queued; the next refresh queues them")
        raise
    report_announcement(announcement)
    return {
        **report.to_json(now=now, max_age_seconds=settings.registry_max_age_seconds),
        "events": announcement.to_json(),
    }
