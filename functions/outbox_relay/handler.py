"""Lambda entry point: DynamoDB stream (OUTBOX# inserts) -> EventBridge, with partial batch responses."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.events import EventPublisher
from emrex_emc.adapters.outcomes import OutboxLedger
from emrex_emc.services.relay import relay
from emrex_emc.settings import Settings

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME (the function name)
metrics = Metrics(namespace="EMREX")


@cache
def _wiring() -> tuple[EventPublisher, OutboxLedger]:
    settings = Settings.from_env()
    return EventPublisher(client("events")), OutboxLedger(client("dynamodb"), settings.table_name)


def reset() -> None:
    """Forget the cached wiring (tests switch environments)."""
    _wiring.cache_clear()


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    publisher, ledger = _wiring()
    records = event.get("Records") or []
    report = relay(records, publisher, ledger, time.time)
    metrics.add_metric(name="EventsRelayed", unit=MetricUnit.Count, value=len(report.published))
    metrics.add_metric(name="EventsSkipped", unit=MetricUnit.Count, value=len(report.skipped))
    metrics.add_metric(name="RelayFailures", unit=MetricUnit.Count, value=len(report.failed_sequence_numbers))
    logger.info(
        "outbox batch relayed",
        records=len(records),
        published=list(report.published),
        skipped=len(report.skipped),
        failed=len(report.failed_sequence_numbers),
    )
    return report.batch_response()
