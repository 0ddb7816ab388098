"""EventBridge publishing: the entries the outbox holds, sent in chunks of 10 (the PutEvents maximum).

Delivery is at least once: :meth:`EventPublisher.publish` raises :class:`PublishError` when any entry
failed, so the caller (the outbox relay) lets the stream batch be retried. Consumers deduplicate by
``detail.event_id``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

SOURCE = "emrex.emc"
MAX_ENTRIES_PER_CALL = 10


class DetailType(StrEnum):
    RESULTS_RECEIVED = "EMREX Results Received"
    RESULTS_REJECTED = "EMREX Results Rejected"
    TRANSFER_CANCELLED = "EMREX Transfer Cancelled"
    NO_RESULTS = "EMREX No Results"
    PROVIDER_ERROR = "EMREX Provider Error"


class PublishError(Exception):
    """Some entries were not accepted by EventBridge; ``failed`` holds their indexes in the input."""

    def __init__(self, failed: Sequence[int], reasons: Sequence[str]) -> None:
        super().__init__(f"{len(failed)} event(s) not published: {', '.join(sorted(set(reasons)))}")
        self.failed = tuple(failed)


def build_event(detail_type: DetailType | str, detail: Mapping[str, Any], bus: str) -> dict[str, str]:
    """One PutEvents entry; ``Detail`` is compact JSON with a stable key order."""
    return {
        "Source": SOURCE,
        "DetailType": str(detail_type),
        "Detail": json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        "EventBusName": bus,
    }


class EventPublisher:
    def __init__(self, events_client: Any) -> None:
        self._events = events_client

    def publish(self, entries: Sequence[Mapping[str, str]]) -> None:
        """Send every entry; raise :class:`PublishError` naming the failed ones after trying them all."""
        failed: list[int] = []
        reasons: list[str] = []
        trace_header = os.environ.get("_X_AMZN_TRACE_ID")
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            chunk = [dict(entry) for entry in entries[start : start + MAX_ENTRIES_PER_CALL]]
            if trace_header:
                for entry in chunk:
                    entry.setdefault("TraceHeader", trace_header)
            response = self._events.put_events(Entries=chunk)
            if not response.get("FailedEntryCount"):
                continue
            results = response.get("Entries") or [{} for _ in chunk]
            for offset, result in enumerate(results):
                if result.get("ErrorCode") or not result.get("EventId"):
                    failed.append(start + offset)
                    reasons.append(str(result.get("ErrorCode") or "unknown"))
        if failed:
            raise PublishError(failed, reasons)
