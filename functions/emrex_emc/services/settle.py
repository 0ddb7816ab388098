"""Settling a transfer with what its EMP answered, whatever the protocol: decide, keep the evidence, record once.

Each protocol's service (EMREX 1: :mod:`services.callback`, EMREX 2.0: :mod:`services.redirect_callback`)
checks its own request (state, session, browser, replays) and turns the EMP's answer into an :class:`Answer`;
from there this one path runs for every protocol:

1. the meaning decides: OK runs the answer's verification (the trust pipeline, with the certificates or key
   pinned when the EMP was chosen and the applicant's expected identity); a refused payload is kept as
   evidence and recorded as ``rejected``; cancel / no results / provider error are recorded as such;
2. S3 first (evidence, canonical results JSON, attachments), then ONE DynamoDB transaction (outcome +
   outbox + audit). The outbox relay publishes the event (the same five event types for every protocol).

An outcome too large for its item or event is stored smaller (fewer warnings, then fewer issuers), and at
worst as a rejection with a fixed message, so a transfer never stays pending for good. A transient storage
failure (``STORAGE_UNAVAILABLE``) stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from emrex_emc.core.audit import AuditRecord
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.events import OutcomeEvent
from emrex_emc.core.evidence import AttachmentBlob, DetachedSignature, HashedBytes
from emrex_emc.core.outcome import ErrorInfo, Outcome, capped_warnings
from emrex_emc.core.protocol import ReturnCode, Status
from emrex_emc.core.provenance import Coverage, Provenance, assess_provenance
from emrex_emc.core.transfer import Transfer, utc_iso
from emrex_emc.services.ports import Clock, Evidence, IdFactory, RecordOutcome, StateTokens, Transfers
from emrex_emc.settings import Settings

if TYPE_CHECKING:
    from emrex_emc.core.elmo.model import AttachmentContent
    from emrex_emc.core.evidence import StoredObjects
    from emrex_emc.core.identity import ExpectedIdentity
    from emrex_emc.core.pipeline import VerifiedElmo

STATUS_FOR_MEANING: dict[ReturnCode, Status] = {
    ReturnCode.CANCEL: Status.CANCELLED,
    ReturnCode.NO_RESULTS: Status.NO_RESULTS,
    ReturnCode.ERROR: Status.PROVIDER_ERROR,
    ReturnCode.UNKNOWN: Status.PROVIDER_ERROR,
}
TOO_LARGE_MESSAGE = "the verified results are too large to be stored; ask the applicant for their documents"


@dataclass(frozen=True)
class CallbackPorts:
    """What the callback services of both protocols work with (the handler wires them once)."""

    settings: Settings
    transfers: Transfers
    outcomes: RecordOutcome
    evidence: Evidence
    states: StateTokens
    clock: Clock
    new_event_id: IdFactory

    def recorder(self) -> OutcomeRecorder:
        return OutcomeRecorder(
            outcomes=self.outcomes, evidence=self.evidence, transfers=self.transfers, new_event_id=self.new_event_id
        )


@dataclass(frozen=True)
class CallbackResult:
    """A settled callback: the transfer and its stored outcome."""

    transfer: Transfer
    outcome: Outcome
    """The stored outcome (this request's, or the one stored before for a replay)."""
    recorded: bool = False
    """True when this request stored the outcome (and so queued exactly one event)."""
    replay: bool = False


@dataclass(frozen=True)
class Answer:
    """What an EMP answered for a transfer, in protocol-neutral terms."""

    meaning: ReturnCode
    return_code: str
    """As stored (upper-cased and capped): EMREX 1 ``NCP_OK``…, EMREX 2.0 ``OK``/``NO_RESULTS``/the OAuth error."""
    payload: HashedBytes
    """The evidence: EMREX 1 the posted ``elmo`` value, EMREX 2.0 the results body (empty when there is none)."""
    return_message: str | None = None
    """Provider errors only: what the EMP said, capped (shown to the student as not checked by us)."""
    verify: Callable[[], VerifiedElmo] | None = None
    """OK answers: the trust pipeline for this payload (raises ``EmrexError`` when the payload is refused)."""
    signature: DetachedSignature | None = None
    """EMREX 2.0: the ``X-Signature`` and the EMP's key, kept with the payload as evidence."""


def reread(transfers: Transfers, transfer: Transfer) -> Transfer:
    """The transfer as stored now (another request decided it meanwhile), or as we had it."""
    stored = transfers.get(transfer.id)
    return stored if stored is not None else transfer


def expected_identity(transfer: Transfer) -> ExpectedIdentity | None:
    """The applicant the results must belong to (None for a birth date that cannot be read)."""
    from emrex_emc.core.identity import ExpectedIdentity

    try:
        birth_date = date.fromisoformat(transfer.birth_date)
    except ValueError:
        return None
    return ExpectedIdentity(given_names=transfer.given_names, family_name=transfer.family_name, birth_date=birth_date)


class _DecidedMeanwhile(Exception):
    """The transfer was erased or decided while its answer was verified: nothing of this answer is stored."""


class OutcomeRecorder:
    def __init__(
        self, *, outcomes: RecordOutcome, evidence: Evidence, transfers: Transfers, new_event_id: IdFactory
    ) -> None:
        self._outcomes = outcomes
        self._evidence = evidence
        self._transfers = transfers
        self._new_event_id = new_event_id

    def settle(self, transfer: Transfer, answer: Answer, now: float) -> Outcome | None:
        """The outcome as stored (possibly smaller), or None when the transfer was decided by another request
        meanwhile (or different evidence is already stored for it): the caller rereads and answers as a replay.
        """
        try:
            return self._record(transfer, self._decide(transfer, answer, now), int(now))
        except _DecidedMeanwhile:
            return None
        except EmrexError as error:
            if error.code is not ErrorCode.EVIDENCE_CONFLICT:
                raise
            return None  # a concurrent request is recording a different payload for this transfer

    def _decide(self, transfer: Transfer, answer: Answer, now: float) -> Outcome:
        base = Outcome(
            status=Status.PENDING,
            at=utc_iso(now),
            return_code=answer.return_code,
            payload_sha256=answer.payload.sha256,
            event_id=self._new_event_id(),
        )
        if answer.meaning is ReturnCode.OK and answer.verify is not None:
            return self._verified(transfer, answer, answer.verify, base)
        status = STATUS_FOR_MEANING.get(answer.meaning, Status.PROVIDER_ERROR)
        message = answer.return_message if status is Status.PROVIDER_ERROR else None
        return replace(base, status=status, return_message=message)

    def _verified(
        self, transfer: Transfer, answer: Answer, verify: Callable[[], VerifiedElmo], base: Outcome
    ) -> Outcome:
        payload = answer.payload
        try:
            verified = verify()
        except EmrexError as refusal:
            stored = self._store(transfer, answer) if payload.data else None
            return replace(base, status=Status.REJECTED, error=ErrorInfo.of(refusal), s3=stored)
        results = verified.to_json()
        contents = [content for _, content in verified.document.contents()]
        stored = self._store(transfer, answer, results, attachment_blobs(contents))
        return replace(
            base,
            status=Status.RECEIVED,
            summary=verified.document.summary.for_outcome(),
            signature=verified.signature,
            identity=verified.identity,
            elmo_version=verified.document.version,
            s3=stored,
            warnings=capped_warnings(verified.notices),
            provenance=_provenance(transfer, verified),
        )

    def _store(
        self,
        transfer: Transfer,
        answer: Answer,
        results: Mapping[str, Any] | None = None,
        attachments: Sequence[AttachmentBlob] = (),
    ) -> StoredObjects:
        """The answer's evidence (and results), after reading the transfer again: verifying can take seconds, and
        an erasure in that time would otherwise find no evidence yet and leave this answer's behind (the erasure
        sweeps before and after its tombstone; this closes the window but for milliseconds)."""
        current = self._transfers.get(transfer.id)
        if current is None or current.status is not Status.PENDING:
            raise _DecidedMeanwhile
        return self._evidence.put_transfer_objects(
            transfer.id, answer.payload, results, attachments, signature=answer.signature
        )

    def _record(self, transfer: Transfer, outcome: Outcome, now: int) -> Outcome | None:
        for candidate in _smaller_and_smaller(outcome):
            try:
                recorded = self._outcomes.record(
                    transfer,
                    candidate,
                    event=OutcomeEvent(transfer, candidate),
                    audit=AuditRecord(transfer, candidate),
                    now=now,
                )
            except EmrexError as error:
                if error.code is ErrorCode.OUTCOME_TOO_LARGE:
                    continue
                raise
            return candidate if recorded else None
        raise AssertionError("unreachable: the last candidate is a fixed-size rejection")  # pragma: no cover


def _provenance(transfer: Transfer, verified: VerifiedElmo) -> Provenance:
    """The issuers judged by the coverage pinned when the EMP was chosen (by the EMP's country alone for a
    transfer chosen before coverage was pinned)."""
    coverage = transfer.pinned_coverage or Coverage(country=transfer.emp.country if transfer.emp else "")
    return assess_provenance([report.issuer for report in verified.document.reports], coverage)


def _smaller_and_smaller(outcome: Outcome) -> Iterator[Outcome]:
    """The outcome, then ever smaller versions of it, ending with a rejection that always fits."""
    yield outcome
    if outcome.status is Status.RECEIVED:
        yield replace(outcome, warnings=outcome.warnings[:5])
        if outcome.summary is not None:
            provenance = outcome.provenance
            yield replace(
                outcome,
                warnings=(),
                summary=replace(outcome.summary, issuers=outcome.summary.issuers[:1]),
                provenance=replace(provenance, reports=provenance.reports[:1]) if provenance else None,
            )
    yield Outcome(
        status=Status.REJECTED,
        at=outcome.at,
        return_code=outcome.return_code,
        payload_sha256=outcome.payload_sha256,
        event_id=outcome.event_id,
        error=ErrorInfo(ErrorCode.OUTCOME_TOO_LARGE.value, TOO_LARGE_MESSAGE),
        s3=outcome.s3,
    )


def attachment_blobs(contents: Sequence[AttachmentContent]) -> list[AttachmentBlob]:
    """The reader already hashed each content: storage reuses that digest instead of hashing it again."""
    return [
        AttachmentBlob(index, content.mime_type, HashedBytes(content.data, content.sha256))
        for index, content in enumerate(contents)
    ]
