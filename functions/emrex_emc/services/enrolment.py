"""The enrolment API's use cases (server to server): create a transfer, read it, list an applicant's.

The web layer validates the request (``web.enrolment``) and renders the answers; the bearer token is
checked by the handler before anything here runs.
"""

from __future__ import annotations

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import is_valid_transfer_id, new_transfer_id
from emrex_emc.core.transfer import EnrolmentRequest, Transfer, TransferListing, utc_iso
from emrex_emc.services.ports import ApplicantTransfers, Clock, Transfers


class EnrolmentService:
    def __init__(
        self, *, transfers: Transfers, applicants: ApplicantTransfers, session_ttl_seconds: int, clock: Clock
    ) -> None:
        self._transfers = transfers
        self._applicants = applicants
        self._ttl = session_ttl_seconds
        self._clock = clock

    def create(self, request: EnrolmentRequest) -> Transfer:
        now = int(self._clock())
        transfer = Transfer.new(
            request, transfer_id=new_transfer_id(), created_at=utc_iso(now), deadline=now + self._ttl
        )
        self._transfers.create(transfer)
        return transfer

    def get(self, transfer_id: str) -> Transfer:
        transfer = self._transfers.get(transfer_id) if is_valid_transfer_id(transfer_id) else None
        if transfer is None:
            raise EmrexError(ErrorCode.NOT_FOUND, "no transfer with this id")
        return transfer

    def of_applicant(self, applicant_id: str) -> list[TransferListing]:
        """The applicant's transfers, newest first (an erased one is not listed)."""
        return self._applicants.of_applicant(applicant_id)

    def now(self) -> int:
        return int(self._clock())
