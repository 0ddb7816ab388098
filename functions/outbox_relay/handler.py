"""Lambda: DynamoDB stream (outbox rows, transfer expiries) -> EventBridge, with partial batch responses."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.events import EventPublisher
from emrex_emc.adapters.outbox_stream import decode_batch
from emrex_emc.adapters.outcomes import OutboxLedger
from emrex_emc.observability import count, logger, metrics
from emrex_emc.services.relay import relay
from emrex_emc.settings import Settings


@cache
def _wiring() -> tuple[Settings, EventPublisher, OutboxLedger]:
    settings = Settings.from_env(function="outbox_relay")
    return settings, EventPublisher(client("events")), OutboxLedger(client("dynamodb"), settings.table_name)


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    _wiring.cache_clear()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings, publisher, ledger = _wiring()
    records = event.get("Records") or []
    try:
        report = relay(decode_batch(records, event_bus_name=settings.event_bus_name), publisher, ledger, time.time)
    except Exception:  # logged as JSON with its traceback; Lambda retries the whole batch
        logger.exception("outbox batch failed; the stream retries it", extra={"records": len(records)})
        raise
    count("EventsRelayed", len(report.published))
    count("EventsSkipped", len(report.skipped))
    count("RelayFailures", len(report.failed_sequence_numbers))
    # most stream records are not outbox rows (transfers, audit, the registry): a batch without any is routine
    relayed = report.published or report.skipped or report.failed_sequence_numbers
    (logger.info if relayed else logger.debug)(
        "outbox batch relayed",
        extra={
            "records": len(records),
            "published": list(report.published),
            "skipped": len(report.skipped),
            "failed": len(report.failed_sequence_numbers),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in report.failed_sequence_numbers]}
