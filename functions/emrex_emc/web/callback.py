"""The callback's HTTP side: what the EMP's answer must look like before anything else is read.

EMREX 1: the auto-posted form. EMREX 2.0: the redirect back (``GET /callback?code|error=…&state=…`` with the
flow cookie of its transfer), answered with a 303 to ``/callback?state=…`` (the code never stays in the address bar, the
history or a Referer), where the outcome page is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import EmpAnswer
from emrex_emc.web.flow_cookie import flow_cookies
from emrex_emc.web.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from emrex_emc.core.emrex2 import EmpRedirect, FlowCookies

MAX_FORM_FIELDS = 20
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def callback_post(request: HttpRequest, *, max_body_bytes: int) -> EmpAnswer:
    """The EMP's answer from an EMREX 1 ``POST /callback?state=…``; raises ``EmrexError`` when unreadable.

    EMREX 1 answers are HTML forms (``application/x-www-form-urlencoded``, never ``multipart/form-data``).
    """
    if len(request.body) > max_body_bytes:
        raise EmrexError(ErrorCode.BODY_TOO_LARGE, f"the body is larger than {max_body_bytes} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise EmrexError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"the body must be {FORM_CONTENT_TYPE}")
    try:
        form = request.form(max_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise EmrexError(ErrorCode.FORM_INVALID, "the form cannot be read") from None
    return EmpAnswer(
        state=request.query.get("state", ""),
        session_id=form.get("sessionId", ""),
        return_code=form.get("returnCode", ""),
        return_message=form.get("returnMessage", ""),
        elmo=form.get("elmo", ""),
    )


def is_provider_answer(request: HttpRequest) -> bool:
    """A redirect from the EMP (code or error), rather than the outcome page it is sent on to."""
    return "code" in request.query or "error" in request.query


def emp_redirect(request: HttpRequest, *, base_url: str) -> EmpRedirect:
    """The EMP's redirect back with this browser's flow cookies; ``OAUTH_RESPONSE_INVALID`` when unreadable."""
    from emrex_emc.core.emrex2 import EmpRedirect  # EMREX 2.0 only: not at the callback's cold start

    return EmpRedirect.of(request.query, flow_cookies_in(request, base_url=base_url))


def flow_cookies_in(request: HttpRequest, *, base_url: str) -> FlowCookies:
    return flow_cookies(request.cookies, base_url)


def see_outcome(base_url: str, state: str) -> HttpResponse:
    """303 to the outcome page: the same state, without the code."""
    location = f"{base_url}/callback?state={quote(state, safe='')}"
    return HttpResponse(
        303, headers={"location": location, "cache-control": "no-store", "referrer-policy": "no-referrer"}
    )
