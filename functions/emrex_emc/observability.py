"""Logs and metrics of every function, set up once (Powertools), so all functions look alike in CloudWatch.

Every log line is JSON: Powertools' ``logger`` for the handlers, and the same formatter for the
``emrex_emc`` logger hierarchy that services and adapters log to (stdlib ``logging``, so they stay free of
Powertools). Handlers use ``@logger.inject_lambda_context(clear_state=True)``: cold start and request id
on every line, and nothing (a correlation id) carried over from the previous invocation. Metrics go to one
namespace; a refusal is counted as ``Refused`` with its error code as the dimension.
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from emrex_emc.core.errors import EmrexError
from emrex_emc.core.protocol import Status

if TYPE_CHECKING:  # the registry modules load lxml and cryptography: only the refresh function needs them
    from emrex_emc.services.registry_events import Announcement
    from emrex_emc.services.registry_refresh import RefreshReport
    from emrex_emc.services.settle import CallbackResult

NAMESPACE = "EMREX"
MAX_PER_EMP_METRICS = 200
"""Per-EMP values emitted per refresh at most (a registry lists a few dozen EMPs; each is a custom metric)."""

logger = Logger()  # the service name is the function's (POWERTOOLS_SERVICE_NAME)
metrics = Metrics(namespace=NAMESPACE)
logging.getLogger("emrex_emc")  # registered first, so its children (created later, on demand) inherit the format
copy_config_to_registered_loggers(source_logger=logger, include={"emrex_emc"})
# a request that emits no metric is normal (e.g. a replayed callback), not worth a warning per invocation
warnings.filterwarnings("ignore", message="No application metrics to publish")


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """A counter; with ``dimensions`` it goes out as its own metric (per-EMP dashboards, alarms)."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    if is_metrics_disabled():  # single_metric prints even then (the local stack disables metrics)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def milliseconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)


def per_emp(name: str, value: float, emp_id: str, unit: MetricUnit = MetricUnit.Count) -> None:
    """A metric with the EMP as dimension (``emp_id`` + ``service``): the per-EMP dashboard and alarm."""
    if is_metrics_disabled():
        return
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="emp_id", value=emp_id)


def correlate(transfer_id: str) -> None:
    """Put ``transfer_id`` as ``correlation_id`` on this invocation's later log lines.

    Kept per thread (Powertools' thread-safe keys): the local stack runs every function in one process, and a
    request must never log another's transfer. ``inject_lambda_context(clear_state=True)`` clears it when the
    thread's next invocation starts."""
    logger.thread_safe_append_keys(correlation_id=transfer_id)


def report_callback(result: CallbackResult, *, milliseconds: float) -> None:
    """Log a handled callback (either protocol) and count it, per EMP: outcomes by status, rejections (1 or 0
    per outcome, so their average is the rejection rate), SHA-1 signatures (likewise, per verified signature)
    and the time the callback took."""
    outcome, emp = result.outcome, result.transfer.emp.id if result.transfer.emp else "unknown"
    correlate(result.transfer.id)
    logger.info(
        "callback handled",
        extra={
            "status": outcome.status.value,
            "error_code": outcome.error_code,
            "recorded": result.recorded,
            "replay": result.replay,
            "emp_id": emp,
            "protocol": result.transfer.protocol.value,
        },
    )
    count("CallbackOutcome", outcome="replay" if result.replay else outcome.status.value, emp_id=emp)
    if not result.recorded:
        return
    if outcome.error is not None:
        count("VerificationFailures")  # alarmed: many refusals mean an EMP key change or an attack
    per_emp("EmpRejected", 1 if outcome.status is Status.REJECTED else 0, emp)
    per_emp("EmpCallbackLatency", milliseconds, emp, MetricUnit.Milliseconds)
    if outcome.signature is not None:
        count("SignatureAlgorithm", algorithm=outcome.signature.algorithm, emp_id=emp)
        per_emp("EmpSha1Signature", 1 if outcome.signature.sha1 else 0, emp)
    if outcome.identity_verdict:
        count("IdentityVerdict", verdict=outcome.identity_verdict, emp_id=emp)


def report_refusal(error: EmrexError) -> None:
    """Count and log a refusal (code only: the message never holds personal data, but stays out of metrics)."""
    count("Refused", error_code=error.code.value)
    logger.info("request refused", extra={"error_code": error.code.value, "detail": error.message})


def report_registry_failure(error: EmrexError) -> None:
    """A refresh that failed with no snapshot to fall back on (the invocation fails too)."""
    count("RegistryRefreshFailed")
    logger.error(
        "registry refresh failed and no snapshot exists",
        extra={"error_code": error.code.value, "detail": error.message},
    )


def report_registry_refresh(report: RefreshReport, *, now: datetime) -> None:
    """Log a registry refresh (changes, skipped entries) and emit its metrics, per EMP where it matters."""
    from emrex_emc.core.registry_events import days_until_expiry

    if report.error is not None:
        count("RegistryRefreshFailed")
        logger.error(
            "registry refresh failed; the previous snapshot stays in use",
            extra={"error_code": report.error.code.value, "detail": report.error.message},
        )
    elif report.status == "superseded":
        logger.info("registry refresh skipped: a newer snapshot is stored", extra={"emp_count": report.emp_count})
    elif report.first_load:
        logger.info(
            "registry loaded", extra={"emp_count": report.emp_count, "registries": len(report.snapshot.source_parts())}
        )
    else:
        logger.info("registry refresh done", extra={"status": report.status, "emp_count": report.emp_count})
    # a first load changes nothing for anyone (no operations events either): no EMP is logged or counted as added
    changes = () if report.first_load else report.changes
    for change in changes:
        logger.info(
            "registry EMP changed",
            extra={
                "change": change.kind,
                "emp_id": change.emp_id,
                "emp_name": change.name,
                "country": change.country,
                "detail": change.detail,
            },
        )
    for notice in report.notices:
        logger.warning("registry entry skipped", extra={"notice_code": notice.code, "detail": notice.message})
    count("RegistryEmpChanged", len(changes))
    count("RegistryEmpCount", report.emp_count)
    metrics.add_metric(
        name="RegistrySnapshotAgeSeconds",
        unit=MetricUnit.Seconds,
        value=max(0.0, report.snapshot.age(now).total_seconds()),
    )
    for emp in report.snapshot.emps[:MAX_PER_EMP_METRICS]:
        days = days_until_expiry(emp, now)
        if days is not None:
            per_emp("EmpCertificateDaysLeft", days, emp.id)


def report_announcement(announcement: Announcement) -> None:
    for event in (*announcement.changes, *announcement.expiring):
        logger.info(
            "registry event",
            extra={"detail_type": event.detail_type.value, "emp_id": event.emp.id, "event_id": event.event_id},
        )
    count("RegistryEventsQueued", announcement.queued)
