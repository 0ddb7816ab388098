"""``POST /callback?state=…``: verify what the EMP sent, store it, and record one event in the outbox.

Order matters:

1. cheap checks on the request (body cap, form) and the **signed state** before any I/O: a forged or
   expired state is refused without reading or writing any session;
2. the transfer named by the state; the posted ``sessionId`` must equal the state's and the stored one;
3. a transfer that already has an outcome: the same POST again (same payload hash and return code)
   shows the same page and publishes nothing; anything else is refused (409);
4. the return code decides: OK runs the trust pipeline with the certificates pinned at session start
   and the applicant's expected identity; a refused payload is kept as evidence and recorded as
   ``rejected``; cancel / no results / provider error are recorded as such;
5. S3 first (evidence, canonical JSON, attachments), then ONE DynamoDB transaction (outcome + outbox
   + audit). The outbox relay publishes the event, so nothing is lost if EventBridge is down or this
   Lambda dies after the transaction.

lxml/signxml are imported only when an OK payload is processed (the pipeline is imported lazily).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from emrex_emc.adapters.blobs import BlobStore, EvidenceConflictError, HashedBytes, StoredObjects
from emrex_emc.adapters.events import DetailType, build_event
from emrex_emc.adapters.outcomes import OutcomeStore, OutcomeWrite, RecordResult
from emrex_emc.adapters.sessions import Transfer
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import ReturnCode, Status, parse_return_code
from emrex_emc.core.state import StateClaims
from emrex_emc.settings import Settings
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.layout import pick_language
from emrex_emc.web.outcome_pages import ReturnLink, error_page, outcome_page

MAX_FORM_FIELDS = 20
MAX_RETURN_MESSAGE_CHARS = 500
MAX_RETURN_CODE_CHARS = 40
MAX_WARNINGS = 25
MAX_WARNING_MESSAGE_CHARS = 300
MAX_ISSUERS = 20

DETAIL_TYPES: dict[Status, DetailType] = {
    Status.RECEIVED: DetailType.RESULTS_RECEIVED,
    Status.REJECTED: DetailType.RESULTS_REJECTED,
    Status.CANCELLED: DetailType.TRANSFER_CANCELLED,
    Status.NO_RESULTS: DetailType.NO_RESULTS,
    Status.PROVIDER_ERROR: DetailType.PROVIDER_ERROR,
}
_STATUS_FOR_CODE: dict[ReturnCode, Status] = {
    ReturnCode.CANCEL: Status.CANCELLED,
    ReturnCode.NO_RESULTS: Status.NO_RESULTS,
    ReturnCode.ERROR: Status.PROVIDER_ERROR,
    ReturnCode.UNKNOWN: Status.PROVIDER_ERROR,
}


class StateVerifier(Protocol):
    def verify(self, token: str, *, now: int) -> StateClaims: ...


class TransferReader(Protocol):
    def get(self, transfer_id: str) -> Transfer | None: ...


Verifier = Callable[..., Any]
"""``emrex_emc.core.pipeline.verify_elmo``-compatible callable (injectable for tests)."""


@dataclass(frozen=True)
class CallbackResult:
    """The response plus what the handler needs for logs and metrics (no personal data)."""

    response: HttpResponse
    transfer_id: str | None = None
    status: str | None = None
    """The outcome shown (``received``, ``rejected``, ...); None when the request was refused."""
    error_code: str | None = None
    recorded: bool = False
    """True when this request stored the outcome (and thus queued exactly one event)."""
    replay: bool = False
    emp_id: str | None = None
    signature_algorithm: str | None = None
    identity_verdict: str | None = None


class _Refused(Exception):
    def __init__(self, code: ErrorCode, transfer: Transfer | None = None, link_status: str | None = None) -> None:
        super().__init__(code.value)
        self.code = code
        self.transfer = transfer
        self.link_status = link_status


@dataclass
class _Decision:
    status: Status
    outcome: dict[str, Any]
    detail: dict[str, Any]
    audit: dict[str, Any] = field(default_factory=dict)
    signature_algorithm: str | None = None
    identity_verdict: str | None = None


class CallbackService:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: TransferReader,
        outcomes: OutcomeStore,
        blobs: BlobStore,
        signer: StateVerifier,
        clock: Callable[[], float],
        verifier: Verifier | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._outcomes = outcomes
        self._blobs = blobs
        self._signer = signer
        self._clock = clock
        self._verifier = verifier

    def handle(self, request: HttpRequest) -> CallbackResult:
        accept_language = request.headers.get("accept-language")
        try:
            return self._handle(request)
        except _Refused as refused:
            transfer = refused.transfer
            lang = pick_language(transfer.locale if transfer else None, accept_language)
            link = None
            if transfer is not None and refused.link_status:
                link = ReturnLink(transfer.return_url, transfer.id, refused.link_status)
            return CallbackResult(
                response=error_page(refused.code, lang=lang, link=link),
                transfer_id=transfer.id if transfer else None,
                error_code=refused.code.value,
                emp_id=_emp_field(transfer, "id"),
            )

    def _handle(self, request: HttpRequest) -> CallbackResult:
        if len(request.body) > self._settings.max_body_bytes:
            raise _Refused(ErrorCode.BODY_TOO_LARGE)
        try:
            form = request.form(max_fields=MAX_FORM_FIELDS)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Refused(ErrorCode.FORM_INVALID) from exc
        now = self._clock()
        try:
            claims = self._signer.verify(request.query.get("state", ""), now=int(now))
        except EmrexError as exc:
            raise _Refused(exc.code) from exc

        transfer = self._sessions.get(claims.transfer_id)
        if transfer is None:
            raise _Refused(ErrorCode.SESSION_NOT_FOUND)
        if not _same_session(form.get("sessionId", ""), claims, transfer):
            raise _Refused(ErrorCode.SESSION_MISMATCH, transfer)

        raw_code = form.get("returnCode", "")
        elmo = form.get("elmo", "")
        payload = HashedBytes.of(elmo.encode("utf-8"))
        fingerprint = _Fingerprint(parse_return_code(raw_code), payload.sha256)
        lang = pick_language(transfer.locale, request.headers.get("accept-language"))

        if transfer.status is not Status.PENDING:
            return self._already_decided(transfer, transfer.status.value, transfer.outcome, fingerprint, lang)
        if transfer.effective_status(int(now)) is Status.EXPIRED:
            raise _Refused(ErrorCode.SESSION_EXPIRED, transfer, Status.EXPIRED.value)

        try:
            decision = self._decide(
                transfer,
                raw_code=raw_code,
                fingerprint=fingerprint,
                elmo=elmo,
                payload=payload,
                return_message=form.get("returnMessage", ""),
                now=now,
            )
        except EvidenceConflictError:
            # A different payload for this transfer is already being recorded by a concurrent request.
            decided = self._outcomes.read_decision(transfer.id)
            return self._already_decided(transfer, decided.status, decided.outcome, fingerprint, lang)

        write = OutcomeWrite(
            transfer_id=transfer.id,
            emrex_session_id=claims.session_id,
            status=decision.status.value,
            outcome=decision.outcome,
            event_id=decision.outcome["event_id"],
            entry=build_event(DETAIL_TYPES[decision.status], decision.detail, self._settings.event_bus_name),
            audit=decision.audit,
        )
        result: RecordResult = self._outcomes.record(write, now=int(now))
        if not result.recorded:
            return self._already_decided(transfer, result.status, result.outcome, fingerprint, lang)
        return CallbackResult(
            response=outcome_page(decision.outcome, lang=lang, link=_link(transfer, decision.status.value)),
            transfer_id=transfer.id,
            status=decision.status.value,
            error_code=(decision.outcome.get("error") or {}).get("code"),
            recorded=True,
            emp_id=_emp_field(transfer, "id"),
            signature_algorithm=decision.signature_algorithm,
            identity_verdict=decision.identity_verdict,
        )

    def _already_decided(
        self,
        transfer: Transfer,
        status: str | None,
        outcome: Mapping[str, Any] | None,
        fingerprint: _Fingerprint,
        lang: str,
    ) -> CallbackResult:
        """Replay of the accepted POST -> same page, nothing published; anything else -> 409."""
        if status in {None, Status.PENDING.value} or outcome is None:
            raise _Refused(ErrorCode.SESSION_ALREADY_COMPLETED, transfer)
        if not fingerprint.matches(outcome):
            raise _Refused(ErrorCode.SESSION_ALREADY_COMPLETED, transfer, str(status))
        return CallbackResult(
            response=outcome_page(outcome, lang=lang, link=_link(transfer, str(status))),
            transfer_id=transfer.id,
            status=str(status),
            error_code=(outcome.get("error") or {}).get("code"),
            replay=True,
            emp_id=_emp_field(transfer, "id"),
        )

    def _decide(
        self,
        transfer: Transfer,
        *,
        raw_code: str,
        fingerprint: _Fingerprint,
        elmo: str,
        payload: HashedBytes,
        return_message: str,
        now: float,
    ) -> _Decision:
        at = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        event_id = str(uuid.uuid4())
        outcome: dict[str, Any] = {
            "at": at,
            "return_code": raw_code.strip().upper()[:MAX_RETURN_CODE_CHARS],
            "payload_sha256": fingerprint.payload_sha256,
            "event_id": event_id,
        }
        if fingerprint.code is ReturnCode.OK:
            decision = self._decide_ok(transfer, elmo, payload, outcome, now)
        else:
            status = _STATUS_FOR_CODE[fingerprint.code]
            outcome["status"] = status.value
            decision = _Decision(status, outcome, {})
            if status is Status.PROVIDER_ERROR:
                outcome["return_message"] = return_message.strip()[:MAX_RETURN_MESSAGE_CHARS]
                decision.detail = {
                    "return_code": outcome["return_code"],
                    "return_message": outcome["return_message"],
                }
        decision.detail = {**_detail_base(transfer, outcome), **decision.detail}
        decision.audit = {
            "applicant_id": transfer.applicant_id,
            "emp_id": _emp_field(transfer, "id"),
            "return_code": outcome["return_code"],
            "payload_sha256": outcome["payload_sha256"],
            "at": at,
            **decision.audit,
        }
        return decision

    def _decide_ok(
        self, transfer: Transfer, elmo: str, payload: HashedBytes, outcome: dict[str, Any], now: float
    ) -> _Decision:
        """``payload`` is ``elmo`` as UTF-8 with its SHA-256, hashed once per request."""
        try:
            verified = self._verify(transfer, elmo, now)
        except EmrexError as exc:
            stored = self._blobs.put_transfer_objects(transfer.id, payload) if payload.data else None
            outcome.update(status=Status.REJECTED.value, error=exc.to_json())
            detail: dict[str, Any] = {"error": exc.to_json()}
            if stored is not None:
                outcome["s3"] = stored.to_json()
                detail["evidence"] = _evidence(stored)
            return _Decision(Status.REJECTED, outcome, detail, audit={"error_code": exc.code.value})

        results = verified.to_json()
        stored = self._blobs.put_transfer_objects(
            transfer.id, payload, results, _hashed_attachments(verified.attachments_with_content())
        )
        signature = _plain(verified.signature.to_json())
        identity = _plain(verified.identity.to_json()) if verified.identity is not None else None
        verdict = str(identity.get("verdict")) if identity else None
        warnings = [_capped_notice(n) for n in list(verified.notices)[:MAX_WARNINGS]]
        summary = _capped_summary(_plain(verified.summary(results["elmo"]["summary"])))  # computed once
        elmo_version = str(verified.document.version)
        outcome.update(
            status=Status.RECEIVED.value,
            summary=summary,
            signature=signature,
            identity=identity,
            elmo_version=elmo_version,
            s3=stored.to_json(),
            warnings=warnings,
        )
        detail = {
            "summary": summary,
            "identity": identity,
            "signature": signature,
            "elmo_version": elmo_version,
            "results": _results_pointer(stored),
            "warnings": warnings,
        }
        algorithm = _signature_algorithm(signature)
        audit = {
            "signature_algorithm": algorithm,
            "certificate_sha256": (signature.get("certificate") or {}).get("sha256"),
            "elmo_version": elmo_version,
            "identity_verdict": verdict,
        }
        return _Decision(Status.RECEIVED, outcome, detail, audit, algorithm, verdict)

    def _verify(self, transfer: Transfer, elmo: str, now: float) -> Any:
        from emrex_emc.core.identity import ExpectedIdentity

        verifier = self._verifier
        if verifier is None:
            from emrex_emc.core.pipeline import verify_elmo

            verifier = verify_elmo
        expected = _expected_identity(transfer, ExpectedIdentity)
        return verifier(
            elmo,
            list(transfer.pinned_certs),
            self._settings.pipeline_policy,
            expected=expected,
            now=datetime.fromtimestamp(now, UTC),
            xsd_dir=self._settings.xsd_dir or None,
        )


@dataclass(frozen=True)
class _Fingerprint:
    """What makes two POSTs "the same": the meaning of the return code and the payload's SHA-256."""

    code: ReturnCode
    payload_sha256: str

    def matches(self, outcome: Mapping[str, Any]) -> bool:
        stored_code = parse_return_code(str(outcome.get("return_code", "")))
        return stored_code is self.code and hmac.compare_digest(
            str(outcome.get("payload_sha256", "")), self.payload_sha256
        )


def _same_session(posted: str, claims: StateClaims, transfer: Transfer) -> bool:
    stored = transfer.emrex_session_id or ""
    emp_id = _emp_field(transfer, "id") or ""
    return (
        bool(stored)
        and hmac.compare_digest(posted.encode(), claims.session_id.encode())
        and hmac.compare_digest(claims.session_id.encode(), stored.encode())
        and claims.emp_id == emp_id
    )


def _expected_identity(transfer: Transfer, factory: Callable[..., Any]) -> Any:
    try:
        birth_date = date.fromisoformat(transfer.birth_date)
    except ValueError:
        return None
    return factory(given_names=transfer.given_names, family_name=transfer.family_name, birth_date=birth_date)


def _detail_base(transfer: Transfer, outcome: Mapping[str, Any]) -> dict[str, Any]:
    emp = transfer.emp or {}
    return {
        "event_id": outcome["event_id"],
        "session_id": transfer.id,
        "emrex_session_id": transfer.emrex_session_id,
        "applicant_id": transfer.applicant_id,
        "emp": {"id": emp.get("id"), "name": emp.get("name"), "country": emp.get("country")},
        "outcome_at": outcome["at"],
        "status": outcome["status"],
        "payload_sha256": outcome["payload_sha256"],
    }


def _results_pointer(stored: StoredObjects) -> dict[str, Any]:
    return {
        "bucket": stored.bucket,
        "results_key": stored.results_key,
        "payload_key": stored.payload_key,
        "attachments": [item.to_json() for item in stored.attachments],
    }


def _evidence(stored: StoredObjects) -> dict[str, Any]:
    return {"bucket": stored.bucket, "payload_key": stored.payload_key, "payload_sha256": stored.payload_sha256}


def _capped_notice(notice: Any) -> dict[str, str]:
    data = notice.to_json() if hasattr(notice, "to_json") else dict(notice)
    return {"code": str(data.get("code", "")), "message": str(data.get("message", ""))[:MAX_WARNING_MESSAGE_CHARS]}


_SUMMARY_DUPLICATES = frozenset({"signature", "identity", "warnings", "elmo_version"})
"""Keys of ``VerifiedElmo.summary()`` that the outcome and the event already carry in full."""


def _capped_summary(summary: dict[str, Any]) -> dict[str, Any]:
    summary = {k: v for k, v in summary.items() if k not in _SUMMARY_DUPLICATES}
    issuers = summary.get("issuers")
    if isinstance(issuers, list) and len(issuers) > MAX_ISSUERS:
        summary = {**summary, "issuers": issuers[:MAX_ISSUERS]}
    return summary


def _signature_algorithm(signature: Mapping[str, Any]) -> str | None:
    for key in ("signature_algorithm", "algorithm"):
        value = signature.get(key)
        if value:
            return str(value)
    return None


def _plain(value: Any) -> Any:
    """JSON round-trip-safe copy (tuples -> lists, Decimals -> strings) of a ``to_json()`` result."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _hashed_attachments(
    attachments: Sequence[tuple[Mapping[str, Any], bytes]],
) -> list[tuple[Mapping[str, Any], HashedBytes]]:
    """The reader already hashed each content (``sha256`` of its metadata): storage reuses that digest."""
    return [(meta, _hashed_content(meta, content)) for meta, content in attachments]


def _hashed_content(meta: Mapping[str, Any], content: bytes) -> HashedBytes:
    digest = meta.get("sha256")
    if isinstance(digest, str) and len(digest) == 64 and meta.get("size") == len(content):
        return HashedBytes(content, digest)
    return HashedBytes.of(content)


def _emp_field(transfer: Transfer | None, name: str) -> str | None:
    if transfer is None or not transfer.emp:
        return None
    value = transfer.emp.get(name)
    return str(value) if value is not None else None


def _link(transfer: Transfer, status: str) -> ReturnLink:
    return ReturnLink(transfer.return_url, transfer.id, status)
