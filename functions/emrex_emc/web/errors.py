"""The one error mapping of each surface: an ``ErrorCode`` -> HTTP status and a page (students) or JSON (API).

Services raise ``EmrexError``; handlers turn it into a response here and nowhere else. Every page says what
to do next and whom to ask (quoting the transfer's support code when it is known) and names the error code
for support staff; nothing from the request is echoed.
"""

from __future__ import annotations

from dataclasses import dataclass

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.web.help import ask_with_error_code, ask_with_support_code, next_steps, staff_code
from emrex_emc.web.html import Markup, join, page
from emrex_emc.web.http import HttpResponse, html_response, json_response
from emrex_emc.web.texts import t


@dataclass(frozen=True)
class ErrorPage:
    status: int
    title: str
    """Text keys (see ``web.texts``)."""
    body: str
    advice: str | None = "advice.restart"
    retry_after_seconds: int | None = None
    back_to_chooser: bool = False
    """The refusal of a choice: when the transfer is known, the page links back to its EMP chooser."""


_CANNOT_COMPLETE = "error.cannot_complete"
_REGISTRY = ErrorPage(503, "error.unavailable", "error.REGISTRY_UNAVAILABLE", None, retry_after_seconds=120)
_EXPIRED = ErrorPage(410, "error.expired.title", "error.SESSION_EXPIRED")

PAGES: dict[ErrorCode, ErrorPage] = {
    ErrorCode.NOT_FOUND: ErrorPage(404, "error.not_found.title", "error.not_found.body", None),
    ErrorCode.SESSION_NOT_FOUND: ErrorPage(404, "error.link_invalid", "error.SESSION_NOT_FOUND"),
    ErrorCode.SESSION_EXPIRED: _EXPIRED,
    ErrorCode.STATE_EXPIRED: _EXPIRED,
    ErrorCode.START_LINK_USED: ErrorPage(410, "error.used.title", "error.START_LINK_USED"),
    ErrorCode.CSRF_INVALID: ErrorPage(
        403, "error.CSRF_INVALID.title", "error.CSRF_INVALID", None, back_to_chooser=True
    ),
    ErrorCode.EMP_UNKNOWN: ErrorPage(400, "error.EMP_UNKNOWN.title", "error.EMP_UNKNOWN", None, back_to_chooser=True),
    ErrorCode.REGISTRY_UNAVAILABLE: _REGISTRY,
    ErrorCode.REGISTRY_STALE: _REGISTRY,
    ErrorCode.REGISTRY_INVALID: _REGISTRY,
    ErrorCode.STORAGE_UNAVAILABLE: ErrorPage(503, "error.unavailable", "error.STORAGE_UNAVAILABLE", "advice.retry"),
    ErrorCode.INTERNAL_ERROR: ErrorPage(500, "error.unavailable", "error.INTERNAL_ERROR", "advice.retry"),
    ErrorCode.BODY_TOO_LARGE: ErrorPage(413, _CANNOT_COMPLETE, "error.BODY_TOO_LARGE"),
    ErrorCode.FORM_INVALID: ErrorPage(400, _CANNOT_COMPLETE, "error.FORM_INVALID"),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: ErrorPage(415, _CANNOT_COMPLETE, "error.UNSUPPORTED_MEDIA_TYPE"),
    ErrorCode.STATE_INVALID: ErrorPage(400, _CANNOT_COMPLETE, "error.STATE_INVALID"),
    ErrorCode.SESSION_MISMATCH: ErrorPage(400, _CANNOT_COMPLETE, "error.SESSION_MISMATCH"),
    ErrorCode.SESSION_ALREADY_COMPLETED: ErrorPage(409, _CANNOT_COMPLETE, "error.SESSION_ALREADY_COMPLETED"),
    ErrorCode.OAUTH_RESPONSE_INVALID: ErrorPage(400, _CANNOT_COMPLETE, "error.OAUTH_RESPONSE_INVALID"),
    ErrorCode.BROWSER_MISMATCH: ErrorPage(403, "error.BROWSER_MISMATCH.title", "error.BROWSER_MISMATCH"),
    ErrorCode.ISSUER_MISMATCH: ErrorPage(400, _CANNOT_COMPLETE, "error.ISSUER_MISMATCH"),
    ErrorCode.CLIENT_KEY_UNAVAILABLE: ErrorPage(
        503, "error.unavailable", "error.CLIENT_KEY_UNAVAILABLE", "advice.reload", retry_after_seconds=60
    ),
}
"""Student-facing pages (start link, chooser, callback, unknown paths)."""
_UNLISTED = ErrorPage(400, _CANNOT_COMPLETE, "error.FORM_INVALID")
"""For a code no surface raises (the verdicts of :data:`RECORDED`): the generic "cannot be completed" page."""

API_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.VALIDATION_FAILED: 400,
    ErrorCode.RETURN_URL_NOT_ALLOWED: 400,
    ErrorCode.FORM_INVALID: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.STORAGE_UNAVAILABLE: 503,
    ErrorCode.INTERNAL_ERROR: 500,
}
"""The enrolment and admin API (server to server, JSON). Any other code is a 500."""

RECORDED: frozenset[ErrorCode] = frozenset(ErrorCode) - PAGES.keys() - API_STATUS.keys()
"""The verdicts on an EMP's answer (decoding, XML, signature, certificates, EMREX 2.0 calls, storage limits):
recorded as the transfer's outcome and shown by its outcome page (``web.outcome``), never raised to a surface
(tests/web/test_error_pages.py checks the web layer and the handlers; the handler tests, the services)."""


def page_of(code: ErrorCode) -> ErrorPage:
    return PAGES.get(code, _UNLISTED)


@dataclass(frozen=True)
class Link:
    """A button on an error page: where it goes and its text key."""

    href: str
    label: str


def error_page(
    error: EmrexError, *, lang: str, link: Link | None = None, transfer_id: str | None = None
) -> HttpResponse:
    """The page of ``error``: what went wrong, what to do next and whom to ask, quoting the support code of
    the transfer (``transfer_id``) when it is known, or else the error code."""
    spec = page_of(error.code)
    title = t(lang, spec.title)
    ask = ask_with_support_code(lang, transfer_id) if transfer_id else ask_with_error_code(lang)
    parts: list[Markup | str] = [
        Markup("<h1>{}</h1>").format(title),
        Markup('<div class="notice error" role="alert"><p>{}</p></div>').format(t(lang, spec.body)),
        next_steps(lang, [t(lang, spec.advice)] if spec.advice is not None else [], ask),
        staff_code(lang, error.code.value),
    ]
    if link is not None:
        parts.append(Markup('<p><a class="button" href="{}">{}</a></p>').format(link.href, t(lang, link.label)))
    headers = {"retry-after": str(spec.retry_after_seconds)} if spec.retry_after_seconds else None
    return html_response(spec.status, page(lang=lang, title=title, body=join(parts)), headers)


def json_error(error: EmrexError) -> HttpResponse:
    response = json_response(API_STATUS.get(error.code, 500), {"error": error.to_json()})
    if error.code is ErrorCode.UNAUTHORIZED:
        response.headers["www-authenticate"] = 'Bearer realm="emrex-enrolment"'
    return response
