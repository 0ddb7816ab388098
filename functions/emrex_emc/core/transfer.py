"""A transfer: one applicant's import of study results, from the enrolment request to its outcome.

Created by the enrolment API (``pending``), given its EMP once when the student chooses one, and given
its :class:`~emrex_emc.core.outcome.Outcome` once by the callback. :meth:`Transfer.to_item` and
:meth:`Transfer.from_item` are its stored form (plain values; the DynamoDB adapter does the wire format).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import ProtocolVersion, Status
from emrex_emc.core.registry import Emp, Emrex2Endpoints

if TYPE_CHECKING:  # read only from an item that has them: a pending transfer's cold start loads neither
    from emrex_emc.core.outcome import Outcome
    from emrex_emc.core.provenance import Coverage

PENDING_GRACE_SECONDS = 86400
"""While pending, a transfer is kept ``deadline + 1 day``, so a late callback still finds it (as expired)."""


def support_code(transfer_id: str) -> str:
    """What a student quotes to support: the first 12 hex digits of the transfer id, ``3F2A-91C0-77BE``.

    Transfer ids are 128 random bits, so 48 of them tell transfers apart in practice; support staff look a
    transfer up by it (``emrex-emc transfers show``). It reveals nothing the return URL does not carry.
    """
    head = transfer_id[:12].upper()
    return "-".join(head[i : i + 4] for i in range(0, len(head), 4))


def utc_iso(epoch: float) -> str:
    """``2027-01-15T08:00:00Z``: how transfers and outcomes write their times (whole seconds, UTC)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class EmpRef:
    """What a transfer remembers of its EMP (the registry entry may change or disappear later)."""

    id: str
    name: str
    country: str
    url: str

    @classmethod
    def of(cls, emp: Emp) -> EmpRef:
        return cls(id=emp.id, name=emp.name, country=emp.country, url=emp.url)

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "country": self.country, "url": self.url}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmpRef:
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            country=str(data.get("country", "")),
            url=str(data.get("url", "")),
        )


@dataclass(frozen=True)
class EnrolmentRequest:
    """What the enrolment system asks for (``POST /sessions``), validated."""

    applicant_id: str
    given_names: str
    family_name: str
    birth_date: str
    """ISO ``YYYY-MM-DD``, a real date in the past."""
    return_url: str
    """On the allow-list."""
    locale: str
    """A page language, or empty (then the browser's Accept-Language decides)."""


@dataclass(frozen=True)
class Transfer:
    """One applicant's transfer: who, where to return, the EMP chosen, and its outcome once settled."""

    id: str
    """32 lower-case hex characters; returned to the enrolment system."""
    applicant_id: str
    given_names: str
    family_name: str
    birth_date: str
    """ISO ``YYYY-MM-DD``."""
    return_url: str
    locale: str
    status: Status
    created_at: str
    """ISO-8601 UTC."""
    deadline: int
    """Epoch seconds by which the transfer must complete."""
    expires_at: int
    """When the stored item may be deleted (DynamoDB TTL, epoch seconds)."""
    start_used: bool = False
    emrex_session_id: str | None = None
    emp: EmpRef | None = None
    pinned_certs: tuple[bytes, ...] = ()
    """DER certificates of the EMP when it was chosen: the only keys its results are verified with (EMREX 2.0:
    the ones that check an enveloped XML signature inside the results, when the EMP has any)."""
    outcome: Outcome | None = None
    pinned_coverage: Coverage | None = None
    """What the registry said the EMP covers when it was chosen: its results' issuers are judged by it."""
    protocol: ProtocolVersion = ProtocolVersion.EMREX_1
    """The protocol of the chosen EMP (EMREX 1 for transfers chosen before EMREX 2.0 existed)."""
    emp_endpoints: Emrex2Endpoints | None = None
    """EMREX 2.0: the EMP's endpoints when it was chosen (a scheduled registry change never moves a flow)."""
    emp_public_key: bytes = b""
    """EMREX 2.0: DER SubjectPublicKeyInfo of the EMP's key when it was chosen: the only key its JWS verifies with."""
    code_verifier: str | None = None
    """EMREX 2.0: the PKCE verifier, kept server-side with the transfer (never logged, never sent to a browser)."""
    code_sha256: str | None = None
    """EMREX 2.0: SHA-256 (hex) of the authorization code redeemed for this transfer (each is redeemed once)."""

    @classmethod
    def new(cls, request: EnrolmentRequest, *, transfer_id: str, created_at: str, deadline: int) -> Transfer:
        """A pending transfer for an enrolment request."""
        return cls(
            id=transfer_id,
            **asdict(request),
            status=Status.PENDING,
            created_at=created_at,
            deadline=deadline,
            expires_at=deadline + PENDING_GRACE_SECONDS,
        )

    def effective_status(self, now: int) -> Status:
        """The stored status, except that a pending transfer past its deadline is ``EXPIRED``."""
        if self.status is Status.PENDING and now >= self.deadline:
            return Status.EXPIRED
        return self.status

    @property
    def cert_fingerprints(self) -> tuple[str, ...]:
        return tuple(hashlib.sha256(der).hexdigest() for der in self.pinned_certs)

    def __repr__(self) -> str:  # keep personal data out of logs and tracebacks
        return f"Transfer(id={self.id!r}, status={self.status.value!r}, start_used={self.start_used!r})"

    def to_item(self) -> dict[str, Any]:
        """Plain attribute values; ``None`` attributes are left out."""
        item: dict[str, Any] = {
            "id": self.id,
            "applicant_id": self.applicant_id,
            "given_names": self.given_names,
            "family_name": self.family_name,
            "birth_date": self.birth_date,
            "return_url": self.return_url,
            "locale": self.locale,
            "status": self.status.value,
            "created_at": self.created_at,
            "deadline": self.deadline,
            "expires_at": self.expires_at,
            "start_used": self.start_used,
            "pinned_certs": [base64.b64encode(der).decode("ascii") for der in self.pinned_certs],
            "cert_fingerprints": list(self.cert_fingerprints),
        }
        if self.emrex_session_id is not None:
            item["emrex_session_id"] = self.emrex_session_id
        if self.emp is not None:
            item["emp"] = self.emp.to_json()
        if self.outcome is not None:
            item["outcome"] = self.outcome.to_item()
        if self.pinned_coverage is not None:
            item["pinned_coverage"] = self.pinned_coverage.to_json()
        if self.protocol is not ProtocolVersion.EMREX_1:
            item["protocol"] = self.protocol.value
        if self.emp_endpoints is not None:
            item["emp_endpoints"] = self.emp_endpoints.to_json()
        if self.emp_public_key:
            item["emp_public_key"] = base64.b64encode(self.emp_public_key).decode("ascii")
        if self.code_verifier is not None:
            item["code_verifier"] = self.code_verifier
        if self.code_sha256 is not None:
            item["code_sha256"] = self.code_sha256
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Transfer:
        emp = item.get("emp")
        outcome = item.get("outcome")
        session_id = item.get("emrex_session_id")
        coverage = item.get("pinned_coverage")
        endpoints = item.get("emp_endpoints")
        verifier, code = item.get("code_verifier"), item.get("code_sha256")
        return cls(
            id=str(item["id"]),
            applicant_id=str(item["applicant_id"]),
            given_names=str(item["given_names"]),
            family_name=str(item["family_name"]),
            birth_date=str(item["birth_date"]),
            return_url=str(item["return_url"]),
            locale=str(item.get("locale", "")),
            status=Status(str(item["status"])),
            created_at=str(item["created_at"]),
            deadline=int(item["deadline"]),
            expires_at=int(item["expires_at"]),
            start_used=bool(item.get("start_used", False)),
            emrex_session_id=str(session_id) if session_id is not None else None,
            emp=EmpRef.from_json(emp) if isinstance(emp, Mapping) else None,
            pinned_certs=tuple(base64.b64decode(c) for c in item.get("pinned_certs") or ()),
            outcome=_outcome(outcome) if isinstance(outcome, Mapping) else None,
            pinned_coverage=_coverage(coverage) if isinstance(coverage, Mapping) else None,
            protocol=ProtocolVersion(str(item.get("protocol", ProtocolVersion.EMREX_1.value))),
            emp_endpoints=Emrex2Endpoints.from_json(dict(endpoints)) if isinstance(endpoints, Mapping) else None,
            emp_public_key=base64.b64decode(str(item.get("emp_public_key") or "")),
            code_verifier=str(verifier) if verifier is not None else None,
            code_sha256=str(code) if code is not None else None,
        )


def _outcome(item: Mapping[str, Any]) -> Outcome:
    from emrex_emc.core.outcome import Outcome

    return Outcome.from_item(item)


def _coverage(data: Mapping[str, Any]) -> Coverage:
    from emrex_emc.core.provenance import Coverage

    return Coverage.from_json(data)


@dataclass(frozen=True)
class TransferListing:
    """One line of an applicant's transfers (``GET /applicants/{applicant_id}/sessions``): no personal data."""

    id: str
    status: Status
    created_at: str
    deadline: int
    emp: EmpRef | None = None

    @classmethod
    def of(cls, transfer: Transfer) -> TransferListing:
        return cls(transfer.id, transfer.status, transfer.created_at, transfer.deadline, transfer.emp)

    def effective_status(self, now: int) -> Status:
        if self.status is Status.PENDING and now >= self.deadline:
            return Status.EXPIRED
        return self.status


@dataclass(frozen=True)
class Tombstone:
    """What stays of an erased transfer: its id, the status it had and when it was erased. Nothing personal."""

    id: str
    status: str
    erased_at: str

    def to_item(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "erased_at": self.erased_at, "kind": "tombstone"}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Tombstone:
        return cls(id=str(item["id"]), status=str(item.get("status", "")), erased_at=str(item["erased_at"]))


@dataclass(frozen=True)
class Offer:
    """A pending transfer and the EMPs its student may choose from."""

    transfer: Transfer
    emps: tuple[Emp, ...]


@dataclass(frozen=True)
class Choice:
    """The EMP a student chose for a transfer, with what the browser takes there."""

    transfer: Transfer
    emp: Emp
    session_id: str
    """EMREX 1: the ``sessionId``. EMREX 2.0: the flow id (32 alphanumerics, bound in the state)."""
    state: str
    """Signed; the EMP gets it back to us in the ``returnUrl`` (EMREX 1) or the ``state`` parameter (2.0)."""
    authorization_url: str | None = None
    """EMREX 2.0: where the browser goes (the EMP's authorization endpoint with our PKCE request)."""
    flow_cookie: str | None = None
    """EMREX 2.0: the value of the cookie that binds the redirect back to this browser (its hash is in the state)."""


class TransferRefused(EmrexError):
    """A refusal about a request for a transfer that may be known.

    ``transfer`` (once known) gives the page its language and the way back to the enrolment form;
    ``back_with`` is the status that way back reports, when the form should hear of it.
    """

    def __init__(self, error: EmrexError, transfer: Transfer | None = None, back_with: Status | None = None) -> None:
        super().__init__(error.code, error.message, field=error.field)
        self.transfer = transfer
        self.back_with = back_with


def refused(
    code: ErrorCode, message: str, transfer: Transfer | None = None, back_with: Status | None = None
) -> TransferRefused:
    return TransferRefused(EmrexError(code, message), transfer, back_with)
