"""EMREX 2.0: the EMP's redirect back (``GET /callback?code=…&state=…`` or ``?error=…&state=…``).

Order matters:

1. the **signed state** (issued for EMREX 2.0) and the browser's **flow cookie** of the transfer the verified
   state names (its hash is in the state) before any I/O: a forged, expired or foreign state, or another
   browser, is refused without reading;
2. the transfer the state names, for the same flow (flow id, EMP, protocol); RFC 9207 ``iss``, when the EMP
   sends it, must name that EMP (mix-up defence);
3. a transfer that already has an outcome: the same redirect again (the same code, or the same error)
   shows the stored outcome, calls no EMP and publishes nothing; anything else is refused;
4. an error redirect is settled as cancelled (``access_denied``) or as a provider error (any other error);
5. a code: our client assertion is signed by KMS first (a KMS failure leaves the code unused, so a reload can
   retry), then the code is marked redeemed with a conditional write (once: a replayed or concurrent redirect
   never reaches the token endpoint again), then the token and results requests share one deadline;
   results (200, verified by their detached JWS), no results (204) or the EMP's error are settled by
   :class:`~emrex_emc.services.settle.OutcomeRecorder`, the path EMREX 1 takes too.

A code once redeemed cannot be redeemed again, at the EMP or here: when the EMP cannot be reached the
transfer ends as a provider error (``TEMPORARILY_UNAVAILABLE``) rather than staying pending. Codes,
verifiers, tokens and assertions are never logged and never leave this module but towards the EMP.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from emrex_emc.core.emrex2 import (
    ACCESS_DENIED,
    TEMPORARILY_UNAVAILABLE,
    EmpRedirect,
    EmpSaidNo,
    FlowCookies,
    access_token,
    client_assertion_input,
    flow_cookie_hash,
    issuer_matches,
    redirect_error,
    results_problem,
    results_url,
    token_request_form,
)
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.evidence import DetachedSignature, HashedBytes
from emrex_emc.core.jose import RS256, compact_jwt
from emrex_emc.core.outcome import stored_return_code, stored_return_message
from emrex_emc.core.protocol import ProtocolVersion, ReturnCode, Status
from emrex_emc.core.registry import Emrex2Endpoints
from emrex_emc.core.text import clip
from emrex_emc.core.transfer import Transfer, TransferRefused, refused
from emrex_emc.services.ports import (
    ClientKeys,
    Clock,
    EmpEndpoints,
)
from emrex_emc.services.settle import Answer, CallbackPorts, CallbackResult, expected_identity, reread

if TYPE_CHECKING:
    from emrex_emc.core.pipeline import VerifiedElmo

CALLBACK_BUDGET_SECONDS = 15.0
"""Signing the assertion (KMS) and both EMP calls of one callback, counted from its start: with verification
and storage a whole EMREX 2.0 callback stays within 20 s, under API Gateway's 30 s."""
EMPTY = HashedBytes.of(b"")
ResultsVerifier = Callable[..., "VerifiedElmo"]
"""``emrex_emc.core.pipeline.verify_elmo_results`` (injectable for tests)."""


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


class RedirectCallbackService:
    def __init__(
        self,
        ports: CallbackPorts,
        *,
        keys: ClientKeys,
        emp: EmpEndpoints,
        monotonic: Clock = time.monotonic,
        budget_seconds: float = CALLBACK_BUDGET_SECONDS,
        verifier: ResultsVerifier | None = None,
    ) -> None:
        self._settings = ports.settings
        self._transfers = ports.transfers
        self._states = ports.states
        self._clock = ports.clock
        self._keys = keys
        self._emp = emp
        self._monotonic = monotonic
        self._budget_seconds = budget_seconds
        self._verifier = verifier
        self._recorder = ports.recorder()

    def receive(self, redirect: EmpRedirect) -> CallbackResult:
        deadline = self._monotonic() + self._budget_seconds
        now = self._clock()
        transfer, endpoints = self._flow(redirect.state, redirect.flow_cookies, now)
        if redirect.issuer is not None and not issuer_matches(endpoints, redirect.issuer):
            raise refused(ErrorCode.ISSUER_MISMATCH, "the answer names another authorization server (iss)", transfer)
        if transfer.status is not Status.PENDING:
            return _replayed(transfer, redirect)
        if transfer.effective_status(int(now)) is Status.EXPIRED:
            raise refused(ErrorCode.SESSION_EXPIRED, "this transfer has expired", transfer, Status.EXPIRED)
        if redirect.code is None:
            if transfer.code_sha256 is not None:  # results are on their way: a late error must not override them
                raise refused(
                    ErrorCode.SESSION_ALREADY_COMPLETED, "this transfer is being completed by another request", transfer
                )
            return self._settle(transfer, redirect, _said_no(redirect_error(redirect)), now)
        try:
            assertion = self._assertion(endpoints, now)
        except EmrexError as error:
            raise TransferRefused(error, transfer) from error
        if not self._transfers.redeem_code(transfer.id, code_sha256=code_hash(redirect.code), now=int(now)):
            return _replayed(reread(self._transfers, transfer), redirect)
        answer = self._fetch(transfer, endpoints, (redirect.code, assertion), now, deadline)
        try:
            return self._settle(transfer, redirect, answer, now)
        except EmrexError as failure:
            return self._unstorable(transfer, redirect, failure, now)

    def show(self, state: str, flow_cookies: FlowCookies) -> CallbackResult:
        """The stored outcome, for the page the redirect's 303 leads to (``GET /callback?state=…``)."""
        transfer, _endpoints = self._flow(state, flow_cookies, self._clock())
        if transfer.status is Status.PENDING or transfer.outcome is None:
            raise refused(
                ErrorCode.OAUTH_RESPONSE_INVALID, "the provider's answer (a code or an error) is missing", transfer
            )
        return CallbackResult(transfer, transfer.outcome)

    # --- checks before any call to the EMP --------------------------------------------------------------

    def _flow(self, state: str, flow_cookies: FlowCookies, now: float) -> tuple[Transfer, Emrex2Endpoints]:
        try:
            claims = self._states.verify(state, now=int(now))
        except EmrexError as error:
            raise TransferRefused(error) from error
        if claims.protocol is not ProtocolVersion.EMREX_2:
            raise refused(ErrorCode.STATE_INVALID, "this state was not issued for an EMREX 2.0 provider")
        flow_cookie = flow_cookies.for_transfer(claims.transfer_id)  # chosen by the verified state only
        if not flow_cookie or not hmac.compare_digest(flow_cookie_hash(flow_cookie), claims.browser):
            raise refused(ErrorCode.BROWSER_MISMATCH, "the answer reached another browser than the one that started")
        transfer = self._transfers.get(claims.transfer_id)
        if transfer is None:
            raise refused(ErrorCode.SESSION_NOT_FOUND, "this transfer does not exist")
        endpoints = transfer.emp_endpoints
        same_flow = (
            transfer.protocol is ProtocolVersion.EMREX_2
            and endpoints is not None
            and transfer.code_verifier is not None
            and transfer.emp is not None
            and transfer.emp.id == claims.emp_id
            and hmac.compare_digest((transfer.emrex_session_id or "").encode(), claims.session_id.encode())
        )
        if not same_flow or endpoints is None:
            raise refused(ErrorCode.SESSION_MISMATCH, "the answer does not belong to this transfer", transfer)
        return transfer, endpoints

    def _assertion(self, endpoints: Emrex2Endpoints, now: float) -> str:
        client = self._settings.client_identity
        if client is None:
            raise EmrexError(ErrorCode.CLIENT_KEY_UNAVAILABLE, "EMREX 2.0 is not configured (client id, base URL, key)")
        signing_input = client_assertion_input(
            client_id=client.client_id, token_url=endpoints.token_url, key_id=self._keys.signing_key_id, now=int(now)
        )
        return compact_jwt(signing_input, self._keys.sign(signing_input))

    # --- the EMP's answers ------------------------------------------------------------------------------

    def _fetch(
        self, transfer: Transfer, endpoints: Emrex2Endpoints, credentials: tuple[str, str], now: float, deadline: float
    ) -> Answer:
        """The token, then the results; ``credentials`` are the code and our signed assertion."""
        code, assertion = credentials
        redirect_uri = self._settings.redirect_uri
        form = token_request_form(
            code=code, redirect_uri=redirect_uri, verifier=transfer.code_verifier or "", assertion=assertion
        )
        try:
            token = access_token(self._emp.token(endpoints.token_url, form, deadline=deadline))
            results = self._emp.results(results_url(endpoints), token, deadline=deadline)
            problem = results_problem(results)
            if problem is not None:
                raise problem
        except EmpSaidNo as said:
            return _said_no(said)
        except EmrexError as failure:
            if failure.code is ErrorCode.PAYLOAD_TOO_LARGE:
                return Answer(ReturnCode.OK, "OK", EMPTY, verify=_refusing(failure))
            return _said_no(EmpSaidNo.of(failure))
        if results.status == 204:
            return Answer(ReturnCode.NO_RESULTS, "NO_RESULTS", EMPTY)
        body = HashedBytes.of(results.body)
        jws, algorithm = results.header("x-signature"), results.header("x-signature-algorithm")
        return Answer(
            ReturnCode.OK,
            "OK",
            body,
            verify=lambda: self._verify(transfer, body.data, jws, algorithm, now),
            signature=DetachedSignature(jws, transfer.emp_public_key),
        )

    def _verify(
        self, transfer: Transfer, body: bytes, jws: str | None, algorithm: str | None, now: float
    ) -> VerifiedElmo:
        if algorithm is not None and algorithm.strip() != RS256:
            raise EmrexError(
                ErrorCode.JWS_ALGORITHM_FORBIDDEN,
                f"X-Signature-Algorithm is {clip(algorithm, 40)!r}; only RS256 is accepted",
            )
        verifier = self._verifier
        if verifier is None:
            from emrex_emc.core.pipeline import verify_elmo_results

            verifier = verify_elmo_results
        return verifier(
            body,
            jws,
            transfer.emp_public_key,
            list(transfer.pinned_certs),
            self._settings.pipeline_policy,
            expected=expected_identity(transfer),
            now=datetime.fromtimestamp(now, UTC),
            xsd_dir=self._settings.xsd_dir or None,
        )

    def _unstorable(self, transfer: Transfer, redirect: EmpRedirect, failure: EmrexError, now: float) -> CallbackResult:
        """Storing the EMP's answer failed after its code was used: the code cannot fetch it again, so a retry
        could only be refused. End the transfer as unavailable (the student starts again, the SIS is told) if that
        much can be stored; if not either, the failure stands (503) and the transfer ends at its expiry."""
        said = EmpSaidNo(TEMPORARILY_UNAVAILABLE, "the results could not be stored; please start again")
        try:
            return self._settle(transfer, redirect, _said_no(said), now)
        except EmrexError:
            raise failure from None

    def _settle(self, transfer: Transfer, redirect: EmpRedirect, answer: Answer, now: float) -> CallbackResult:
        stored = self._recorder.settle(transfer, answer, now)
        if stored is None:
            return _replayed(reread(self._transfers, transfer), redirect)
        return CallbackResult(replace(transfer, status=stored.status, outcome=stored), stored, recorded=True)


def _said_no(said: EmpSaidNo) -> Answer:
    """``access_denied`` is the student cancelling; any other error is the provider's."""
    meaning = ReturnCode.CANCEL if said.error == ACCESS_DENIED else ReturnCode.ERROR
    return Answer(
        meaning, stored_return_code(said.error), EMPTY, return_message=stored_return_message(said.description)
    )


def _refusing(failure: EmrexError) -> Callable[[], VerifiedElmo]:
    def refuse() -> VerifiedElmo:
        raise failure

    return refuse


def _replayed(transfer: Transfer, redirect: EmpRedirect) -> CallbackResult:
    """The same redirect again -> the stored outcome, nothing called or published; anything else is refused."""
    outcome = transfer.outcome
    if transfer.status is Status.PENDING or outcome is None:
        raise refused(
            ErrorCode.SESSION_ALREADY_COMPLETED, "this transfer is being completed by another request", transfer
        )
    if redirect.code is not None:
        same = transfer.code_sha256 is not None and hmac.compare_digest(transfer.code_sha256, code_hash(redirect.code))
    else:
        same = transfer.code_sha256 is None and outcome.return_code == stored_return_code(
            redirect_error(redirect).error
        )
    if not same:
        raise refused(
            ErrorCode.SESSION_ALREADY_COMPLETED, "this transfer has already been completed", transfer, transfer.status
        )
    return CallbackResult(transfer=transfer, outcome=outcome, replay=True)
