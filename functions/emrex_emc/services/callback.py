"""EMREX 1: receive an EMP's auto-posted answer, verify it, store it, and record one event in the outbox.

Order matters:

1. the **signed state** before any I/O: a forged or expired state is refused without reading or writing;
2. the transfer named by the state; the posted ``sessionId`` must equal the state's and the stored one;
3. a transfer that already has an outcome: the same answer again (same meaning of the return code, same
   payload hash) gets the same outcome and publishes nothing; anything else is refused;
4. the answer is settled by :class:`~emrex_emc.services.settle.OutcomeRecorder`, the path every protocol
   shares (decide, evidence to S3, ONE transaction of outcome + outbox + audit).

A transient storage failure (``STORAGE_UNAVAILABLE``) stores nothing: the EMP's retry or the student's
reload can still complete the transfer. lxml and signxml are imported only when an OK payload is verified.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.evidence import HashedBytes
from emrex_emc.core.outcome import Outcome, stored_return_code, stored_return_message
from emrex_emc.core.protocol import EmpAnswer, ProtocolVersion, ReturnCode, Status, parse_return_code
from emrex_emc.core.state import StateClaims
from emrex_emc.core.transfer import Transfer, TransferRefused, refused
from emrex_emc.services.settle import Answer, CallbackPorts, CallbackResult, expected_identity, reread

if TYPE_CHECKING:
    from emrex_emc.core.pipeline import VerifiedElmo

ElmoVerifier = Callable[..., "VerifiedElmo"]
"""``emrex_emc.core.pipeline.verify_elmo`` (injectable for tests)."""


class CallbackService:
    def __init__(self, ports: CallbackPorts, *, verifier: ElmoVerifier | None = None) -> None:
        self._settings = ports.settings
        self._transfers = ports.transfers
        self._states = ports.states
        self._clock = ports.clock
        self._verifier = verifier
        self._recorder = ports.recorder()

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
        answer = _AnswerKey(parse_return_code(post.return_code), payload.sha256)
        if transfer.status is not Status.PENDING:
            return _already_decided(transfer, answer)
        if transfer.effective_status(int(now)) is Status.EXPIRED:
            raise refused(ErrorCode.SESSION_EXPIRED, "this transfer has expired", transfer, Status.EXPIRED)
        stored = self._recorder.settle(transfer, self._answer(transfer, post, answer.code, payload, now), now)
        if stored is None:
            return _already_decided(reread(self._transfers, transfer), answer)
        return CallbackResult(replace(transfer, status=stored.status, outcome=stored), stored, recorded=True)

    def _answer(
        self, transfer: Transfer, post: EmpAnswer, meaning: ReturnCode, payload: HashedBytes, now: float
    ) -> Answer:
        if meaning is ReturnCode.OK:
            return Answer(
                meaning, stored_return_code(post.return_code), payload, verify=lambda: self._verify(transfer, post, now)
            )
        message = stored_return_message(post.return_message)
        return Answer(meaning, stored_return_code(post.return_code), payload, return_message=message)

    def _verify(self, transfer: Transfer, post: EmpAnswer, now: float) -> VerifiedElmo:
        verifier = self._verifier
        if verifier is None:
            from emrex_emc.core.pipeline import verify_elmo

            verifier = verify_elmo
        return verifier(
            post.elmo,
            list(transfer.pinned_certs),
            self._settings.pipeline_policy,
            expected=expected_identity(transfer),
            now=datetime.fromtimestamp(now, UTC),
            xsd_dir=self._settings.xsd_dir or None,
        )


@dataclass(frozen=True)
class _AnswerKey:
    """What makes two EMREX 1 answers "the same": the meaning of the return code and the payload's SHA-256."""

    code: ReturnCode
    payload_sha256: str

    def matches(self, outcome: Outcome) -> bool:
        return parse_return_code(outcome.return_code) is self.code and hmac.compare_digest(
            outcome.payload_sha256, self.payload_sha256
        )


def _already_decided(transfer: Transfer, answer: _AnswerKey) -> CallbackResult:
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
        and claims.protocol is ProtocolVersion.EMREX_1
        and transfer.protocol is ProtocolVersion.EMREX_1
        and hmac.compare_digest(posted.encode(), claims.session_id.encode())
        and hmac.compare_digest(claims.session_id.encode(), stored.encode())
        and claims.emp_id == emp_id
    )
