"""EventBridge publishing: the entries the outbox holds, sent in chunks of 10 (the PutEvents maximum).

Delivery is at least once: :meth:`EventPublisher.publish` raises :class:`PublishFailed` when any entry
failed, so the caller (the outbox relay) lets the stream batch be retried. Consumers deduplicate by
``detail.event_id``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emrex_emc.core.canonical import canonical_text
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.events import SOURCE, Event, PublishFailed

MAX_ENTRIES_PER_CALL = 10
ENTRY_FIELDS = ("Source", "DetailType", "Detail", "EventBusName")
MAX_DETAIL_BYTES = 16 * 1024
"""Our own bound (EventBridge allows 256 KB per entry): every value from outside is capped where it is
made, so a detail near this size means a cap is missing. It is refused rather than published."""


def entry_for(event: Event, bus: str) -> dict[str, str]:
    """The PutEvents entry of an event (what the outbox stores); ``Detail`` is canonical JSON.

    Raises ``EmrexError`` ``OUTCOME_TOO_LARGE`` for a detail over :data:`MAX_DETAIL_BYTES`.
    """
    detail = canonical_text(event.detail())
    if len(detail.encode("utf-8")) > MAX_DETAIL_BYTES:
        raise EmrexError(ErrorCode.OUTCOME_TOO_LARGE, f"the event detail exceeds {MAX_DETAIL_BYTES} bytes")
    return {"Source": SOURCE, "DetailType": str(event.detail_type), "Detail": detail, "EventBusName": bus}


class EventPublisher:
    def __init__(self, events_client: Any) -> None:
        self._events = events_client

    def publish(self, entries: Sequence[Mapping[str, str]]) -> None:
        """Send every entry; raise :class:`PublishFailed` naming the failed ones after trying them all."""
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
            raise PublishFailed(failed, reasons)


class BusSender:
    """Publishes events now, without the outbox (for events whose outbox row could outlive what they name)."""

    def __init__(self, publisher: EventPublisher, event_bus_name: str) -> None:
        self._publisher = publisher
        self._bus = event_bus_name

    def send(self, events: Sequence[Event]) -> None:
        """Raises ``EmrexError`` ``STORAGE_UNAVAILABLE`` unless the bus accepted every event."""
        try:
            self._publisher.publish([entry_for(event, self._bus) for event in events])
        except (PublishFailed, ClientError, BotoCoreError) as exc:
            raise EmrexError(ErrorCode.STORAGE_UNAVAILABLE, "the event bus did not accept the event") from exc
