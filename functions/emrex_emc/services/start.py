"""The student's start link: which EMPs to offer, and choosing one (consuming the link once).

Choosing pins the EMP's certificates to the transfer (only they will verify its results) and its coverage
(the institutions it may vouch for, see :mod:`emrex_emc.core.provenance`), creates the EMREX ``sessionId``
and signs the state carried in the ``returnUrl``. Choosing an EMREX 2.0 EMP also pins its endpoints and
public key, keeps a fresh PKCE verifier with the transfer, binds the state to the protocol and to a new flow
cookie of this browser, and builds the authorization request. EMREX 2.0 EMPs are offered only when we have an
identity (client id, redirect URI, signing key). Refusals are ``TransferRefused``
errors; the web layer renders the chooser, the redirect to the EMP and every refusal.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from emrex_emc.core.discovery import in_effect, one_listing_per_institution
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import ProtocolVersion, Status, is_valid_transfer_id, new_session_id
from emrex_emc.core.registry import Emp
from emrex_emc.core.state import StateClaims
from emrex_emc.core.transfer import Choice, Offer, Transfer, TransferRefused, refused
from emrex_emc.services.ports import Clock, Registry, StateTokens, Transfers

if TYPE_CHECKING:  # EMREX 2.0 only: loaded when a 2.0 EMP is chosen, not at cold start
    from emrex_emc.core.emrex2 import ClientIdentity

logger = logging.getLogger(__name__)


class StartService:
    def __init__(
        self,
        *,
        transfers: Transfers,
        states: StateTokens,
        registry: Registry,
        clock: Clock,
        client: ClientIdentity | None = None,
    ) -> None:
        self._transfers = transfers
        self._states = states
        self._registry = registry
        self._clock = clock
        self._client = client

    def usable(self, transfer_id: str) -> Transfer:
        """The transfer of a start link that can still be used; else the refusal (not found, used, expired)."""
        transfer = self._transfers.get(transfer_id) if is_valid_transfer_id(transfer_id) else None
        if transfer is None:
            raise refused(ErrorCode.SESSION_NOT_FOUND, "no transfer with this id")
        status = transfer.effective_status(int(self._clock()))
        if transfer.start_used or transfer.status is not Status.PENDING:
            raise refused(ErrorCode.START_LINK_USED, "this start link has already been used", transfer, status)
        if status is Status.EXPIRED:
            raise refused(ErrorCode.SESSION_EXPIRED, "this start link has expired", transfer, status)
        return transfer

    def offer(self, transfer_id: str) -> Offer:
        transfer = self.usable(transfer_id)
        return Offer(transfer, one_listing_per_institution(self._in_effect(transfer)))

    def choose(self, transfer: Transfer, emp_id: str) -> Choice:
        """Bind ``transfer`` (from :meth:`usable`) to the EMP ``emp_id``: once, while it is still pending and
        unused (the write is conditional, so a transfer read a moment ago is safe to pass)."""
        registry = self._in_effect(transfer)
        emp = next((emp for emp in one_listing_per_institution(registry) if emp.id == emp_id), None)
        if emp is None:
            raise refused(ErrorCode.EMP_UNKNOWN, "no EMP with this id is in the registry", transfer)
        now = int(self._clock())
        session_id = new_session_id()
        from emrex_emc.core.provenance import Coverage

        coverage = Coverage.of(emp, registry)  # every EMP in effect: a twin dropped from the list still covers
        emrex2_flow = emp.protocol is ProtocolVersion.EMREX_2 and emp.emrex2 is not None and self._client is not None
        verifier = _new_code_verifier() if emrex2_flow else None
        try:
            chosen = self._transfers.choose_emp(
                transfer.id, emp=emp, session_id=session_id, now=now, coverage=coverage, code_verifier=verifier
            )
        except EmrexError as error:
            raise TransferRefused(error, transfer) from error
        claims = StateClaims(transfer_id=chosen.id, session_id=session_id, emp_id=emp.id, expires_at=chosen.deadline)
        logger.info(
            "EMP chosen",
            extra={"transfer_id": chosen.id, "emp_id": emp.id, "emp_country": emp.country, "protocol": emp.protocol},
        )
        if verifier is None or emp.emrex2 is None or self._client is None:
            return Choice(chosen, emp, session_id, self._states.sign(claims))
        from emrex_emc.core import emrex2

        cookie = emrex2.new_flow_cookie()
        bound = replace(claims, protocol=ProtocolVersion.EMREX_2, browser=emrex2.flow_cookie_hash(cookie))
        state = self._states.sign(bound)
        url = emrex2.authorization_url(emp.emrex2, self._client, state, verifier)
        return Choice(chosen, emp, session_id, state, authorization_url=url, flow_cookie=cookie)

    def _in_effect(self, transfer: Transfer) -> tuple[Emp, ...]:
        """The registry's EMPs in effect now (EMREX 2.0 ones only when we have an EMREX 2.0 identity); the
        chooser offers them one listing per institution."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        try:
            emps = self._registry.snapshot(now=now).emps
            if self._client is None:
                emps = tuple(emp for emp in emps if emp.protocol is ProtocolVersion.EMREX_1)
            return in_effect(emps, now)
        except EmrexError as error:
            logger.error("EMP registry unusable", extra={"error_code": error.code.value, "detail": error.message})
            raise TransferRefused(error, transfer) from error


def _new_code_verifier() -> str:
    from emrex_emc.core.emrex2 import new_code_verifier  # EMREX 2.0 only

    return new_code_verifier()
