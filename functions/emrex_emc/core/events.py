"""The events the EMC publishes on its bus (``source`` ``emrex.emc``).

The SIS contract (:data:`SIS_DETAIL_TYPES`): one event per transfer outcome, for either protocol,
``EMREX Transfer Expired`` for a transfer that ended without an answer, ``EMREX Applicant Erased`` after an
erasure. The operations events of the registry (:data:`OPERATIONS_DETAIL_TYPES`, built in
:mod:`emrex_emc.core.registry_events`) go to the operators, not the SIS. Each ``detail`` is described by a
JSON Schema per detail-type in ``emrex_emc/schemas/events/``; the SIS contract is versioned by
:data:`SCHEMA_VERSION` (what changed in each version: docs/CHANGELOG.md). Events are typed values here;
the events adapter turns them into PutEvents entries (canonical JSON ``Detail``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from emrex_emc.core.evidence import StoredObjects
from emrex_emc.core.outcome import Outcome
from emrex_emc.core.protocol import ProtocolVersion, Status
from emrex_emc.core.registry import Emp
from emrex_emc.core.transfer import EmpRef, Transfer, utc_iso

SOURCE = "emrex.emc"
_DERIVED_IDS = uuid.UUID("6f1e0c1e-5b2a-4c47-9d0e-1f3a2b4c5d6e")
"""The namespace of event ids derived from what an event is about (UUID v5), so a retry makes the same id."""
SCHEMA_VERSION = 3
"""The event contract's version, in every ``detail`` (``schema_version``). 2: ``protocol`` and
``schema_version``, EMREX 2.0 transfers, ``signature.format``, ELMO 2.1 document types, provenance and identity
methods, the Transfer Expired, Applicant Erased and registry events. 3: the outcome events' ``emp`` gains
``url`` and ``protocol`` (the one EMP shape of every event). docs/CHANGELOG.md."""


class DetailType(StrEnum):
    RESULTS_RECEIVED = "EMREX Results Received"
    RESULTS_REJECTED = "EMREX Results Rejected"
    TRANSFER_CANCELLED = "EMREX Transfer Cancelled"
    NO_RESULTS = "EMREX No Results"
    PROVIDER_ERROR = "EMREX Provider Error"
    TRANSFER_EXPIRED = "EMREX Transfer Expired"
    APPLICANT_ERASED = "EMREX Applicant Erased"
    EMP_ADDED = "EMREX EMP Added"
    EMP_REMOVED = "EMREX EMP Removed"
    EMP_CERTIFICATE_CHANGED = "EMREX EMP Certificate Changed"
    EMP_CERTIFICATE_EXPIRING = "EMREX EMP Certificate Expiring"


OUTCOME_DETAIL_TYPES: dict[Status, DetailType] = {
    Status.RECEIVED: DetailType.RESULTS_RECEIVED,
    Status.REJECTED: DetailType.RESULTS_REJECTED,
    Status.CANCELLED: DetailType.TRANSFER_CANCELLED,
    Status.NO_RESULTS: DetailType.NO_RESULTS,
    Status.PROVIDER_ERROR: DetailType.PROVIDER_ERROR,
}
SIS_DETAIL_TYPES: tuple[DetailType, ...] = (
    *OUTCOME_DETAIL_TYPES.values(),
    DetailType.TRANSFER_EXPIRED,
    DetailType.APPLICANT_ERASED,
)
"""What the SIS subscribes to: everything about transfers and applicants."""
OPERATIONS_DETAIL_TYPES: tuple[DetailType, ...] = (
    DetailType.EMP_ADDED,
    DetailType.EMP_REMOVED,
    DetailType.EMP_CERTIFICATE_CHANGED,
    DetailType.EMP_CERTIFICATE_EXPIRING,
)
"""Registry changes, for the operators (the alarm topic): never sent to the SIS."""


def derived_event_id(*parts: str) -> str:
    """A UUID v5 of ``parts``: the same event, recomputed by a retry, keeps its id (consumers deduplicate)."""
    return str(uuid.uuid5(_DERIVED_IDS, "\x1f".join(parts)))


def emp_detail(emp: Emp | EmpRef, protocol: ProtocolVersion) -> dict[str, str]:
    """The one shape naming an EMP in the transfer-expiry and registry events (the outcome events name it with the
    same five keys, null when the transfer has no EMP)."""
    return {"id": emp.id, "name": emp.name, "country": emp.country, "url": emp.url, "protocol": protocol.value}


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
                "url": (emp.url or None) if emp else None,  # None: a transfer stored without it
                "protocol": transfer.protocol.value if emp else None,
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
                document_types=list(outcome.summary.document_types) if outcome.summary else [],
                provenance=outcome.provenance.to_json() if outcome.provenance else None,
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
class TransferExpiredEvent:
    """A transfer whose deadline passed without an answer from the EMP, published when its item expires."""

    transfer: Transfer

    @property
    def event_id(self) -> str:
        return derived_event_id(DetailType.TRANSFER_EXPIRED.value, self.transfer.id)

    @property
    def detail_type(self) -> DetailType:
        return DetailType.TRANSFER_EXPIRED

    def detail(self) -> dict[str, Any]:
        transfer = self.transfer
        return {
            "event_id": self.event_id,
            "schema_version": SCHEMA_VERSION,
            "protocol": transfer.protocol.value,
            "session_id": transfer.id,
            "applicant_id": transfer.applicant_id,
            "emp": emp_detail(transfer.emp, transfer.protocol) if transfer.emp else None,
            "created_at": transfer.created_at,
            "expired_at": utc_iso(transfer.deadline),
            "status": Status.EXPIRED.value,
        }


@dataclass(frozen=True)
class ApplicantErasedEvent:
    """An applicant's transfers were erased on request: the SIS erases its copies too."""

    applicant_id: str
    session_ids: tuple[str, ...]
    erased_at: str

    @property
    def event_id(self) -> str:
        return derived_event_id(DetailType.APPLICANT_ERASED.value, self.applicant_id, *sorted(self.session_ids))

    @property
    def detail_type(self) -> DetailType:
        return DetailType.APPLICANT_ERASED

    def detail(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "schema_version": SCHEMA_VERSION,
            "applicant_id": self.applicant_id,
            "session_ids": sorted(self.session_ids),
            "erased_at": self.erased_at,
        }


@dataclass(frozen=True)
class OutboxRecord:
    """One event as the relay receives it from the stream: an outbox row, or a transfer's expiry."""

    sequence_number: str
    """The stream position, reported back when the event could not be published (retry from there)."""
    event_id: str
    entry: Mapping[str, str]
    """``{Source, DetailType, Detail, EventBusName}``."""
    key: str | None = None
    """The outbox row's ``pk`` (its ledger entry), or None for an event that has no outbox row (an expiry)."""


@dataclass(frozen=True)
class OutboxBatch:
    """The outbox rows of one stream batch, decoded."""

    records: tuple[OutboxRecord, ...]
    malformed: tuple[str, ...] = ()
    """Sequence numbers of outbox rows without a usable entry."""


class PublishFailed(Exception):
    """Some entries were not accepted by the bus; ``failed`` holds their indexes in the input."""

    def __init__(self, failed: Sequence[int], reasons: Sequence[str]) -> None:
        super().__init__(f"{len(failed)} event(s) not published: {', '.join(sorted(set(reasons)))}")
        self.failed = tuple(failed)
