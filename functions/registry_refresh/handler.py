"""Lambda: the scheduled registry refresh (wiring only; the work is in ``services.registry_refresh``).

Fetches the registries (``EMREX_REGISTRY_URLS``, else ``EMREX_REGISTRY_URL``) and stores the snapshot
as one item of the table. A failed refresh with a snapshot in place does not fail the invocation: it
logs an error and emits ``RegistrySnapshotAgeSeconds``, which an alarm watches against
``EMREX_REGISTRY_MAX_AGE_SECONDS``. Without any snapshot it raises, so the Lambda's Errors metric shows
it. ``{"force": true}`` fetches even while the snapshot is still fresh.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.registry_fetch import RegistryFetcher
from emrex_emc.adapters.registry_store import RegistryStore
from emrex_emc.core.errors import EmrexError
from emrex_emc.observability import count, logger, metrics
from emrex_emc.services.registry_refresh import RefreshReport, refresh_or_keep
from emrex_emc.settings import Settings


@cache
def _wiring() -> tuple[Settings, RegistryFetcher, RegistryStore]:
    settings = Settings.from_env(function="registry_refresh")
    store = RegistryStore(client("dynamodb"), settings.table_name, consistent_read=True, cache_seconds=0)
    return settings, RegistryFetcher(), store


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    _wiring.cache_clear()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    settings, fetcher, store = _wiring()
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
        count("RegistryRefreshFailed")
        logger.error(
            "registry refresh failed and no snapshot exists", error_code=error.code.value, detail=error.message
        )
        raise
    _log(report)
    if report.error is not None:
        count("RegistryRefreshFailed")
    count("RegistryEmpChanged", len(report.changes))
    count("RegistryEmpCount", report.emp_count)
    metrics.add_metric(
        name="RegistrySnapshotAgeSeconds", unit="Seconds", value=max(0.0, report.snapshot.age(now).total_seconds())
    )
    return report.to_json(now=now, max_age_seconds=settings.registry_max_age_seconds)


def _log(report: RefreshReport) -> None:
    if report.error is not None:
        logger.error(
            "registry refresh failed; what the registry listed before stays in use",
            error_code=report.error.code.value,
            detail=report.error.message,
        )
    elif report.status == "superseded":
        logger.info("registry refresh skipped: a newer snapshot is stored", emp_count=report.emp_count)
    else:
        logger.info("registry refresh done", status=report.status, emp_count=report.emp_count)
    for change in report.changes:
        logger.info(
            "registry EMP changed",
            change=change.kind,
            emp_id=change.emp_id,
            emp_name=change.name,
            country=change.country,
            detail=change.detail,
        )
    for notice in report.notices:
        logger.warning("registry entry skipped", notice_code=notice.code, detail=notice.message)
