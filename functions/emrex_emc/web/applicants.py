"""The applicant routes: ``GET /applicants/{applicant_id}/sessions`` (enrolment token) and
``DELETE /applicants/{applicant_id}`` (admin token).

``applicant_id`` is percent-encoded in the path (``a/b+c`` is ``a%2Fb%2Bc``). API Gateway may hand the
parameter over decoded or still encoded, and a proxy that decodes ``%2F`` before routing makes clients behind
it encode twice. An applicant id never contains ``%`` (``web.enrolment.APPLICANT_ID``), so a parameter holding
one is decoded again, at most twice (nothing valid is encoded more often); ``+`` always stays a plus. The
result must be a valid applicant id, exactly (no whitespace trimmed: an erasure names its applicant exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.schema import validate
from emrex_emc.core.transfer import TransferListing
from emrex_emc.web.enrolment import APPLICANT_ID, authorize, bearer_matches
from emrex_emc.web.http import HttpRequest, HttpResponse, json_response

MAX_PARAMETER_CHARS = 128 * 3 * 3
"""An applicant id of 128 characters, percent-encoded twice."""
MAX_DECODINGS = 2


def applicant_id_of(request: HttpRequest) -> str:
    value = request.path_params.get("applicant_id", "")[:MAX_PARAMETER_CHARS]
    for _ in range(MAX_DECODINGS):
        if "%" in value:
            value = unquote(value)
    applicant_id: str = validate({"applicant_id": value}, {"applicant_id": APPLICANT_ID})["applicant_id"]
    if applicant_id != value:
        raise EmrexError(
            ErrorCode.VALIDATION_FAILED, "applicant_id must not start or end with spaces", field="applicant_id"
        )
    return applicant_id


def authorize_admin(request: HttpRequest, *, admin_tokens: Sequence[str], enrolment_tokens: Sequence[str]) -> None:
    """The admin token passes; the enrolment token is refused as FORBIDDEN (403), anything else UNAUTHORIZED."""
    if bearer_matches(request, admin_tokens):
        return
    if bearer_matches(request, enrolment_tokens):
        raise EmrexError(ErrorCode.FORBIDDEN, "this route needs the admin token, not the enrolment API token")
    authorize(request, ())


def erased(session_ids: Sequence[str]) -> HttpResponse:
    return json_response(202, {"erased": len(session_ids), "session_ids": list(session_ids)})


def applicant_transfers(applicant_id: str, listings: Sequence[TransferListing], *, now: int) -> HttpResponse:
    return json_response(
        200,
        {
            "applicant_id": applicant_id,
            "sessions": [
                {
                    "id": listing.id,
                    "status": listing.effective_status(now).value,
                    "emp": listing.emp.to_json() if listing.emp else None,
                    "created_at": listing.created_at,
                }
                for listing in listings
            ],
        },
    )
