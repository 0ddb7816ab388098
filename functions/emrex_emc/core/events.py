"""The SIS contract: the events the EMC publishes on its bus (``source`` ``emrex.emc``).

One event per transfer outcome, for either protocol; its ``detail`` is described by a JSON Schema per
detail-type in ``emrex_emc/schemas/events/``, versioned by :data:`SCHEMA_VERSION` (what changed in each
version: docs/CHANGELOG.md). Events are typed values here; the events adapter turns them into
PutEvents entries (canonical JSON ``Detail``) when the outbox is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from emrex_emc.core.evidence import StoredObjects
from emrex_emc.core.outcome import Outcome
from emrex_emc.core.protocol import Status
from emrex_emc.core.transfer import Transfer

SOURCE = "emrex.emc"
SCHEMA_VERSION = 2
"""The SIS contract's version, in every ``detail`` (``schema_version``). 2: ``protocol`` and ``schema_version``
in every detail, EMREX 2.0 transfers, ``signature.format`` (docs/CHANGELOG.md)."""


class DetailType(StrEnum):
    RESULTS_RECEIVED = "EMREX Results Received"
    RESULTS_REJECTED = "EMREX Results Rejected"
    TRANSFER_CANCELLED = "EMREX Transfer Cancelled"
    NO_RESULTS = "EMREX No Results"
    PROVIDER_ERROR = "EMREX Provider Error"


OUTCOME_DETAIL_TYPES: dict[Status, DetailType] = {
    Status.RECEIVED: DetailType.RESULTS_RECEIVED,
    Status.REJECTED: DetailType.RESULTS_REJECTED,
    Status.CANCELLED: DetailType.TRANSFER_CANCELLED,
    Status.NO_RESULTS: DetailType.NO_RESULTS,
    Status.PROVIDER_ERROR: DetailType.PROVIDER_ERROR,
}


class Event(Protocol):
    """What the outbox stores and the relay publishes."""

    @property
    def event_id(self) -> str: ...

    @property
    def detail_type(self) -> str: ...

    def detail(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class OutcomeEvent:
    """The one event of a transfer's outcome; it names the applicant by id only (no names, no results)."""

    transfer: Transfer
    outcome: Outcome

    @property
    def event_id(self) -> str:
        return self.outcome.event_id

    @property
    def detail_type(self) -> DetailType:
        return OUTCOME_DETAIL_TYPES[self.outcome.status]

    def detail(self) -> dict[str, Any]:
        transfer, outcome = self.transfer, self.outcome
        emp = transfer.emp
        detail: dict[str, Any] = {
            "event_id": outcome.event_id,
            "schema_version": SCHEMA_VERSION,
            "protocol": transfer.protocol.value,
            "session_id": transfer.id,
            "emrex_session_id": transfer.emrex_session_id,
            "applicant_id": transfer.applicant_id,
            "emp": {
                "id": emp.id if emp else None,
                "name": emp.name if emp else None,
                "country": emp.country if emp else None,
            },
            "outcome_at": outcome.at,
            "status": outcome.status.value,
            "payload_sha256": outcome.payload_sha256,
        }
        if outcome.status is Status.PROVIDER_ERROR:
            detail.update(return_code=outcome.return_code, return_message=outcome.return_message)
        elif outcome.status is Status.REJECTED:
            detail["error"] = outcome.error.to_json() if outcome.error else None
            if outcome.s3 is not None:
                detail["evidence"] = {
                    "bucket": outcome.s3.bucket,
                    "payload_key": outcome.s3.payload_key,
                    "payload_sha256": outcome.s3.payload_sha256,
                }
                if outcome.s3.signature_key is not None:
                    detail["evidence"]["signature_key"] = outcome.s3.signature_key
        elif outcome.status is Status.RECEIVED:
            s3 = outcome.s3
            detail.update(
                summary=outcome.summary.to_json() if outcome.summary else None,
                identity=outcome.identity.to_json() if outcome.identity else None,
                signature=outcome.signature.to_json() if outcome.signature else None,
                elmo_version=outcome.elmo_version,
                results=None if s3 is None else _results(s3),
                warnings=[notice.to_json() for notice in outcome.warnings],
            )
        return detail


def _results(s3: StoredObjects) -> dict[str, Any]:
    results: dict[str, Any] = {
        "bucket": s3.bucket,
        "results_key": s3.results_key,
        "payload_key": s3.payload_key,
        "attachments": [item.to_item() for item in s3.attachments],
    }
    if s3.signature_key is not None:
        results["signature_key"] = s3.signature_key
    return results


@dataclass(frozen=True)
class OutboxRecord:
    """One outbox row as the relay receives it: the PutEvents entry stored with the outcome."""

    sequence_number: str
    """The stream position, reported back when the event could not be published (retry from there)."""
    event_id: str
    entry: Mapping[str, str]
    """``{Source, DetailType, Detail, EventBusName}``."""


@dataclass(frozen=True)
class OutboxBatch:
    records: tuple[OutboxRecord, ...]
    malformed: tuple[str, ...] = ()
    """Sequence numbers of outbox rows without a usable entry."""


class PublishFailed(Exception):
    """Some entries were not accepted by the bus; ``failed`` holds their indexes in the input."""

    def __init__(self, failed: Sequence[int], reasons: Sequence[str]) -> None:
        super().__init__(f"{len(failed)} event(s) not published: {', '.join(sorted(set(reasons)))}")
        self.failed = tuple(failed)
