"""Lambda entry point for the scheduled registry refresh (EventBridge Scheduler / rule).

Fetches the registry (``EMREX_REGISTRY_URL``, default the EWP production catalogue), stores the snapshot
as one item of the table (``pk = REGISTRY#snapshot``, see :mod:`emrex_emc.adapters.registry_store`) and
reports changes as logs and metrics. A failed refresh with a snapshot in place does not fail the
invocation: it logs an error and emits ``RegistrySnapshotAgeSeconds`` so an alarm on the age (the ceiling
is ``EMREX_REGISTRY_MAX_AGE_SECONDS``) fires, instead of retrying for ever. A snapshot too large for a
table item is such a failure too (REGISTRY_INVALID; the previous one stays). Without any snapshot it
raises, so the Lambda's Errors metric shows it. Losing a race to a refresh that fetched later (status
``superseded``) is not a failure: the newer snapshot stays and is reported.

The event may carry ``{"force": true}`` to fetch even while the snapshot is still fresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.registry_fetch import RegistryFetcher
from emrex_emc.adapters.registry_store import RegistryStore
from emrex_emc.core.errors import EmrexError
from emrex_emc.core.registry_parse import PRODUCTION_CATALOGUE_URL
from emrex_emc.services.registry_refresh import RefreshReport, refresh_registry
from emrex_emc.settings import Settings

NAMESPACE = "EMREX"
logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
metrics = Metrics(namespace=NAMESPACE)


@dataclass(frozen=True)
class _Wiring:
    settings: Settings
    fetcher: RegistryFetcher
    store: RegistryStore

    @property
    def source(self) -> str:
        return self.settings.registry_url or PRODUCTION_CATALOGUE_URL


@cache
def _wiring() -> _Wiring:
    settings = Settings.from_env()
    store = RegistryStore(client("dynamodb"), settings.table_name, consistent_read=True, cache_seconds=0)
    return _Wiring(settings=settings, fetcher=RegistryFetcher(), store=store)


def reset() -> None:
    """Forget the cached wiring (tests switch environments)."""
    _wiring.cache_clear()


@metrics.log_metrics
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    wiring = _wiring()
    now = datetime.now(UTC)
    force = bool((event or {}).get("force", False)) if isinstance(event, dict) else False
    try:
        report = refresh_registry(
            fetcher=wiring.fetcher,
            store=wiring.store,
            source=wiring.source,
            now=now,
            force=force,
            allow_loopback_http=wiring.settings.local_mode,
        )
    except EmrexError as exc:
        return _refresh_failed(wiring, exc, now)
    _log_report(report)
    metrics.add_metric(name="RegistryEmpChanged", unit=MetricUnit.Count, value=len(report.changes))
    metrics.add_metric(name="RegistryEmpCount", unit=MetricUnit.Count, value=report.emp_count)
    _emit_age(report.snapshot.age(now).total_seconds())
    return report.to_json()


_SUPERSEDED = "registry refresh skipped: a newer snapshot is stored"


def _log_report(report: RefreshReport) -> None:
    logger.info(
        _SUPERSEDED if report.status == "superseded" else "registry refresh done",
        status=report.status,
        emp_count=report.emp_count,
        changes=len(report.changes),
        notices=len(report.notices),
    )
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


def _refresh_failed(wiring: _Wiring, error: EmrexError, now: datetime) -> dict[str, Any]:
    metrics.add_metric(name="RegistryRefreshFailed", unit=MetricUnit.Count, value=1)
    previous = wiring.store.load(use_cache=False)
    if previous is None:
        logger.error(
            "registry refresh failed and no snapshot exists", error_code=error.code.value, detail=error.message
        )
        raise error
    age = previous.age(now).total_seconds()
    stale = previous.is_stale(now, wiring.settings.registry_max_age_seconds)
    logger.error(
        "registry refresh failed; the previous snapshot stays in use",
        error_code=error.code.value,
        detail=error.message,
        snapshot_age_seconds=int(age),
        snapshot_stale=stale,
    )
    _emit_age(age)
    return {
        "status": "failed",
        "error": error.to_json(),
        "snapshot_age_seconds": int(age),
        "snapshot_stale": stale,
        "emp_count": len(previous.emps),
    }


def _emit_age(seconds: float) -> None:
    metrics.add_metric(name="RegistrySnapshotAgeSeconds", unit=MetricUnit.Seconds, value=max(0.0, seconds))
