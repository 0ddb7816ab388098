"""Receive an EMP's answer: verify it, store it, and record one event in the outbox.

Order matters:

1. the **signed state** before any I/O: a forged or expired state is refused without reading or writing;
2. the transfer named by the state; the posted ``sessionId`` must equal the state's and the stored one;
3. a transfer that already has an outcome: the same answer again (same meaning of the return code, same
   payload hash) gets the same outcome and publishes nothing; anything else is refused;
4. the return code decides: OK runs the trust pipeline with the certificates pinned when the EMP was
   chosen and the applicant's expected identity; a refused payload is kept as evidence and recorded as
   ``rejected``; cancel / no results / provider error are recorded as such;
5. S3 first (evidence, canonical results JSON, attachments), then ONE DynamoDB transaction (outcome +
   outbox + audit). The outbox relay publishes the event, so nothing is lost if EventBridge is down or
   this Lambda dies after the transaction.

An outcome too large for its item or event is stored smaller (fewer warnings, then fewer issuers), and
at worst as a rejection with a fixed message, so a transfer never stays pending for good. A transient
storage failure (``STORAGE_UNAVAILABLE``) stores nothing: the EMP's retry or the student's reload can
still complete the transfer. lxml and signxml are imported only when an OK payload is verified.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from emrex_emc.core.audit import AuditRecord
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.events import OutcomeEvent
from emrex_emc.core.evidence import AttachmentBlob, HashedBytes
from emrex_emc.core.outcome import (
    ErrorInfo,
    Outcome,
    ResultSummary,
    capped_warnings,
    stored_return_code,
    stored_return_message,
)
from emrex_emc.core.protocol import EmpAnswer, ReturnCode, Status, parse_return_code
from emrex_emc.core.provenance import Coverage, Provenance, assess_provenance
from emrex_emc.core.state import StateClaims
from emrex_emc.core.transfer import Transfer, TransferRefused, refused, utc_iso
from emrex_emc.services.ports import Clock, Evidence, IdFactory, RecordOutcome, StateTokens, Transfers
from emrex_emc.settings import Settings

if TYPE_CHECKING:
    from emrex_emc.core.pipeline import VerifiedElmo

_STATUS_FOR_CODE: dict[ReturnCode, Status] = {
    ReturnCode.CANCEL: Status.CANCELLED,
    ReturnCode.NO_RESULTS: Status.NO_RESULTS,
    ReturnCode.ERROR: Status.PROVIDER_ERROR,
    ReturnCode.UNKNOWN: Status.PROVIDER_ERROR,
}
TOO_LARGE_MESSAGE = "the verified results are too large to be stored; ask the applicant for their documents"

ElmoVerifier = Callable[..., "VerifiedElmo"]
"""``emrex_emc.core.pipeline.verify_elmo`` (injectable for tests)."""


@dataclass(frozen=True)
class CallbackResult:
    transfer: Transfer
    outcome: Outcome
    """The stored outcome (this request's, or the one stored before for a replay)."""
    recorded: bool = False
    """True when this request stored the outcome (and so queued exactly one event)."""
    replay: bool = False


class CallbackService:
    def __init__(
        self,
        *,
        settings: Settings,
        transfers: Transfers,
        outcomes: RecordOutcome,
        evidence: Evidence,
        states: StateTokens,
        clock: Clock,
        new_event_id: IdFactory,
        verifier: ElmoVerifier | None = None,
    ) -> None:
        self._settings = settings
        self._transfers = transfers
        self._outcomes = outcomes
        self._evidence = evidence
        self._states = states
        self._clock = clock
        self._new_event_id = new_event_id
        self._verifier = verifier

    def receive(self, post: EmpAnswer) -> CallbackResult:
        now = self._clock()
        try:
            claims = self._states.verify(post.state, now=int(now))
        except EmrexError as error:
            raise TransferRefused(error) from error
        transfer = self._transfers.get(claims.transfer_id)
        if transfer is None:
            raise refused(ErrorCode.SESSION_NOT_FOUND, "this transfer does not exist")
        if not _same_session(post.session_id, claims, transfer):
            raise refused(ErrorCode.SESSION_MISMATCH, "the answer does not belong to this transfer", transfer)

        payload = HashedBytes.of(post.elmo.encode("utf-8"))
        answer = _Answer(parse_return_code(post.return_code), payload.sha256)
        if transfer.status is not Status.PENDING:
            return _already_decided(transfer, answer)
        if transfer.effective_status(int(now)) is Status.EXPIRED:
            raise refused(ErrorCode.SESSION_EXPIRED, "this transfer has expired", transfer, Status.EXPIRED)
        try:
            stored = self._record(transfer, self._decide(transfer, post, answer, payload, now), int(now))
        except EmrexError as error:
            if error.code is not ErrorCode.EVIDENCE_CONFLICT:
                raise
            stored = None  # a concurrent request is recording a different payload for this transfer
        if stored is None:
            return _already_decided(self._reread(transfer), answer)
        return CallbackResult(replace(transfer, status=stored.status, outcome=stored), stored, recorded=True)

    # --- deciding -----------------------------------------------------------------------------------

    def _decide(
        self, transfer: Transfer, post: EmpAnswer, answer: _Answer, payload: HashedBytes, now: float
    ) -> Outcome:
        base = Outcome(
            status=Status.PENDING,
            at=utc_iso(now),
            return_code=stored_return_code(post.return_code),
            payload_sha256=payload.sha256,
            event_id=self._new_event_id(),
        )
        if answer.code is ReturnCode.OK:
            return self._verified(transfer, post.elmo, payload, base, now)
        status = _STATUS_FOR_CODE[answer.code]
        message = stored_return_message(post.return_message) if status is Status.PROVIDER_ERROR else None
        return replace(base, status=status, return_message=message)

    def _verified(self, transfer: Transfer, elmo: str, payload: HashedBytes, base: Outcome, now: float) -> Outcome:
        try:
            verified = self._verify(transfer, elmo, now)
        except EmrexError as refusal:
            stored = self._evidence.put_transfer_objects(transfer.id, payload) if payload.data else None
            return replace(base, status=Status.REJECTED, error=ErrorInfo.of(refusal), s3=stored)
        results = verified.to_json()
        stored = self._evidence.put_transfer_objects(
            transfer.id, payload, results, _attachment_blobs(verified.attachments_with_content())
        )
        return replace(
            base,
            status=Status.RECEIVED,
            summary=ResultSummary.from_json(results["elmo"]["summary"]),
            signature=verified.signature,
            identity=verified.identity,
            elmo_version=verified.document.version,
            s3=stored,
            warnings=capped_warnings(verified.notices),
            provenance=_provenance(transfer, verified),
        )

    def _verify(self, transfer: Transfer, elmo: str, now: float) -> VerifiedElmo:
        from emrex_emc.core.identity import ExpectedIdentity

        verifier = self._verifier
        if verifier is None:
            from emrex_emc.core.pipeline import verify_elmo

            verifier = verify_elmo
        try:
            expected = ExpectedIdentity(
                given_names=transfer.given_names,
                family_name=transfer.family_name,
                birth_date=date.fromisoformat(transfer.birth_date),
            )
        except ValueError:
            expected = None
        return verifier(
            elmo,
            list(transfer.pinned_certs),
            self._settings.pipeline_policy,
            expected=expected,
            now=datetime.fromtimestamp(now, UTC),
            xsd_dir=self._settings.xsd_dir or None,
        )

    # --- storing --------------------------------------------------------------------------------------

    def _record(self, transfer: Transfer, outcome: Outcome, now: int) -> Outcome | None:
        """The outcome as stored (possibly smaller, see the module docstring), or None when already decided."""
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

    def _reread(self, transfer: Transfer) -> Transfer:
        stored = self._transfers.get(transfer.id)
        return stored if stored is not None else transfer


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


@dataclass(frozen=True)
class _Answer:
    """What makes two answers "the same": the meaning of the return code and the payload's SHA-256."""

    code: ReturnCode
    payload_sha256: str

    def matches(self, outcome: Outcome) -> bool:
        return parse_return_code(outcome.return_code) is self.code and hmac.compare_digest(
            outcome.payload_sha256, self.payload_sha256
        )


def _already_decided(transfer: Transfer, answer: _Answer) -> CallbackResult:
    """The same answer again -> the stored outcome, nothing published; anything else is refused."""
    outcome = transfer.outcome
    if transfer.status is Status.PENDING or outcome is None:
        raise refused(
            ErrorCode.SESSION_ALREADY_COMPLETED, "this transfer is being completed by another request", transfer
        )
    if not answer.matches(outcome):
        raise refused(
            ErrorCode.SESSION_ALREADY_COMPLETED, "this transfer has already been completed", transfer, transfer.status
        )
    return CallbackResult(transfer=transfer, outcome=outcome, replay=True)


def _same_session(posted: str, claims: StateClaims, transfer: Transfer) -> bool:
    stored = transfer.emrex_session_id or ""
    emp_id = transfer.emp.id if transfer.emp else ""
    return (
        bool(stored)
        and hmac.compare_digest(posted.encode(), claims.session_id.encode())
        and hmac.compare_digest(claims.session_id.encode(), stored.encode())
        and claims.emp_id == emp_id
    )


def _attachment_blobs(attachments: Sequence[tuple[dict[str, Any], bytes]]) -> list[AttachmentBlob]:
    """The reader already hashed each content (``sha256`` in its metadata): storage reuses that digest."""
    blobs = []
    for index, (meta, content) in enumerate(attachments):
        digest = meta.get("sha256")
        hashed = (
            HashedBytes(content, digest)
            if isinstance(digest, str) and len(digest) == 64 and meta.get("size") == len(content)
            else HashedBytes.of(content)
        )
        blobs.append(AttachmentBlob(index, str(meta.get("mime_type") or "application/octet-stream"), hashed))
    return blobs
