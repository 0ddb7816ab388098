"""The outcome of a transfer: what the EMP answered and what we made of it, stored once per transfer.

One :class:`Outcome` type is used everywhere: the callback service decides it, the outcome store writes
it (:meth:`Outcome.to_item`), pages and the enrolment API read it back (:meth:`Outcome.from_item`).
It holds summaries and pointers only: never the ELMO document, never names or birth dates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.evidence import StoredObjects
from emrex_emc.core.identity import IdentityResult
from emrex_emc.core.protocol import Status
from emrex_emc.core.provenance import Provenance
from emrex_emc.core.signature_facts import ResultSignature, signature_from_json
from emrex_emc.core.text import clip

MAX_WARNINGS = 25
MAX_WARNING_MESSAGE_CHARS = 300
MAX_ISSUERS = 20
MAX_RETURN_MESSAGE_CHARS = 500
MAX_RETURN_CODE_CHARS = 40


@dataclass(frozen=True)
class ErrorInfo:
    """Why a payload was refused: a stable code and a message for people (no personal data)."""

    code: str
    message: str

    @classmethod
    def of(cls, error: EmrexError) -> ErrorInfo:
        return cls(error.code.value, error.message)

    @property
    def error_code(self) -> ErrorCode | None:
        return ErrorCode.__members__.get(self.code)

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ErrorInfo:
        return cls(str(data.get("code", "")), str(data.get("message", "")))


@dataclass(frozen=True)
class IssuerSummary:
    """A report's issuer as the document names it."""

    name: str | None
    country: str | None
    identifiers: tuple[tuple[str | None, str], ...] = ()
    """``(type, value)`` pairs as the document gives them."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "country": self.country,
            "identifiers": [{"type": kind, "value": value} for kind, value in self.identifiers],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssuerSummary:
        return cls(
            name=_optional_str(data.get("name")),
            country=_optional_str(data.get("country")),
            identifiers=tuple(
                (_optional_str(item.get("type")), str(item.get("value", ""))) for item in data.get("identifiers") or ()
            ),
        )


@dataclass(frozen=True)
class ResultSummary:
    """Counts of a received document, for people and dashboards (see ``ElmoDocument.summary``)."""

    issuers: tuple[IssuerSummary, ...]
    course_count: int
    total_ects: str
    report_count: int
    attachment_count: int
    document_types: tuple[str, ...] = ()
    """ELMO 2.1 document types (Diploma, Certificate, Enrolment, Admission), sorted; empty for ELMO 1."""

    def to_json(self) -> dict[str, Any]:
        return {
            "issuers": [issuer.to_json() for issuer in self.issuers],
            "course_count": self.course_count,
            "total_ects": self.total_ects,
            "report_count": self.report_count,
            "attachment_count": self.attachment_count,
            "document_types": list(self.document_types),
        }

    def for_outcome(self) -> ResultSummary:
        """What an outcome keeps: at most :data:`MAX_ISSUERS` issuers (the results JSON has them all)."""
        return replace(self, issuers=self.issuers[:MAX_ISSUERS])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResultSummary:
        """A stored outcome's summary (at most :data:`MAX_ISSUERS` issuers)."""
        issuers: Sequence[Mapping[str, Any]] = data.get("issuers") or ()
        return cls(
            issuers=tuple(IssuerSummary.from_json(issuer) for issuer in issuers[:MAX_ISSUERS]),
            course_count=int(data.get("course_count", 0)),
            total_ects=str(data.get("total_ects", "0")),
            report_count=int(data.get("report_count", 0)),
            attachment_count=int(data.get("attachment_count", 0)),
            document_types=tuple(str(kind) for kind in data.get("document_types") or ()),
        )

    def issuer_names(self) -> list[str]:
        return [issuer.name for issuer in self.issuers if issuer.name]


@dataclass(frozen=True)
class Outcome:
    """Written once per transfer, conditional on the transfer still being pending.

    Which fields are present follows the status: ``rejected`` has ``error`` (and ``s3`` when a payload was
    kept as evidence), ``provider_error`` has ``return_message``, ``received`` has everything a verified
    document gives (``summary``, ``signature``, ``identity``, ``elmo_version``, ``s3``, ``warnings``,
    ``provenance``).
    """

    status: Status
    at: str
    """ISO-8601 UTC, seconds, ``Z``."""
    return_code: str
    """As the EMP sent it, upper-cased and capped."""
    payload_sha256: str
    """SHA-256 of the posted ``elmo`` value (the empty string's hash when there was none)."""
    event_id: str
    error: ErrorInfo | None = None
    return_message: str | None = None
    summary: ResultSummary | None = None
    signature: ResultSignature | None = None
    identity: IdentityResult | None = None
    elmo_version: str | None = None
    s3: StoredObjects | None = None
    warnings: tuple[Notice, ...] = ()
    provenance: Provenance | None = None
    """Whether the EMP covers the institutions that issued the results (None in outcomes stored before it)."""

    @property
    def error_code(self) -> str | None:
        return self.error.code if self.error is not None else None

    @property
    def identity_verdict(self) -> str | None:
        return self.identity.verdict if self.identity is not None else None

    @property
    def signature_algorithm(self) -> str | None:
        return self.signature.algorithm if self.signature is not None else None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "at": self.at,
            "return_code": self.return_code,
            "payload_sha256": self.payload_sha256,
            "event_id": self.event_id,
            "status": self.status.value,
        }
        if self.return_message is not None:
            item["return_message"] = self.return_message
        if self.error is not None:
            item["error"] = self.error.to_json()
        if self.status is Status.RECEIVED:
            item.update(
                summary=self.summary.to_json() if self.summary is not None else None,
                signature=self.signature.to_json() if self.signature is not None else None,
                identity=self.identity.to_json() if self.identity is not None else None,
                elmo_version=self.elmo_version,
                warnings=[notice.to_json() for notice in self.warnings],
            )
            if self.provenance is not None:
                item["provenance"] = self.provenance.to_json()
        if self.s3 is not None:
            item["s3"] = self.s3.to_item()
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Outcome:
        error = item.get("error")
        summary = item.get("summary")
        signature = item.get("signature")
        identity = item.get("identity")
        s3 = item.get("s3")
        provenance = item.get("provenance")
        return cls(
            status=Status(str(item["status"])),
            at=str(item.get("at", "")),
            return_code=str(item.get("return_code", "")),
            payload_sha256=str(item.get("payload_sha256", "")),
            event_id=str(item.get("event_id", "")),
            error=ErrorInfo.from_json(error) if isinstance(error, Mapping) else None,
            return_message=_optional_str(item.get("return_message")),
            summary=ResultSummary.from_json(summary) if isinstance(summary, Mapping) else None,
            signature=signature_from_json(signature) if isinstance(signature, Mapping) else None,
            identity=IdentityResult.from_json(identity) if isinstance(identity, Mapping) else None,
            elmo_version=_optional_str(item.get("elmo_version")),
            s3=StoredObjects.from_item(s3) if isinstance(s3, Mapping) else None,
            warnings=tuple(
                Notice(str(w.get("code", "")), str(w.get("message", ""))) for w in item.get("warnings") or ()
            ),
            provenance=Provenance.from_json(provenance) if isinstance(provenance, Mapping) else None,
        )


def capped_warnings(notices: Sequence[Notice]) -> tuple[Notice, ...]:
    """At most :data:`MAX_WARNINGS` warnings, each message at most :data:`MAX_WARNING_MESSAGE_CHARS`."""
    return tuple(
        Notice(notice.code, clip(notice.message, MAX_WARNING_MESSAGE_CHARS)) for notice in notices[:MAX_WARNINGS]
    )


def stored_return_code(raw: str) -> str:
    return clip(raw.strip().upper(), MAX_RETURN_CODE_CHARS)


def stored_return_message(raw: str) -> str:
    return clip(raw.strip(), MAX_RETURN_MESSAGE_CHARS)


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
