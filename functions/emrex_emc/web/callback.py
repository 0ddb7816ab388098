"""The callback's HTTP side: what the EMP's POST must look like before anything else is read."""

from __future__ import annotations

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import EmpAnswer
from emrex_emc.web.http import HttpRequest

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
