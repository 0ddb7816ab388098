"""The pages a student sees after the EMP posted back to ``/callback`` (NL/EN, accessible, escaped).

Every value that came from outside (issuer names, the provider's ``returnMessage``) is escaped with
:func:`html.escape`; nothing from an ELMO document is rendered as HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from emrex_emc.core.errors import ErrorCode
from emrex_emc.web.http import HttpResponse, html_response
from emrex_emc.web.layout import render_page

MAX_SHOWN_MESSAGE_CHARS = 200

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "received.title": "Your results have been received",
        "received.lead": "Your study results arrived safely and their digital signature was verified.",
        "received.institutions": "Institution",
        "received.courses": "Number of courses",
        "received.credits": "Credits (ECTS)",
        "received.review": "The admissions office will check that these results belong to you.",
        "cancelled.title": "The transfer was cancelled",
        "cancelled.lead": "You cancelled the transfer at the provider. No results were received.",
        "no_results.title": "No results were found",
        "no_results.lead": "The provider had no results to send for you. No results were received.",
        "provider_error.title": "The provider reported a problem",
        "provider_error.lead": "Something went wrong at the provider. No results were received.",
        "provider_error.message": "Message from the provider (not checked by us):",
        "rejected.title": "Your results could not be verified",
        "rejected.lead": (
            "We received a reply, but could not verify that it really comes from the provider, so it was "
            "not accepted. Please try again later or contact the admissions office."
        ),
        "support": "Code for support staff:",
        "back": "Back to your application",
        "restart": "Please go back to your application form and start the transfer again.",
        "error.title": "This transfer cannot be completed",
        "unavailable.title": "Temporarily unavailable",
        "unavailable.lead": (
            "We could not process the reply right now; nothing was saved. Please go back and try again in a few "
            "minutes."
        ),
        f"error.{ErrorCode.BODY_TOO_LARGE}": "The reply from the provider is larger than we can accept.",
        f"error.{ErrorCode.FORM_INVALID}": "The reply from the provider could not be read.",
        f"error.{ErrorCode.STATE_INVALID}": "This link is not valid.",
        f"error.{ErrorCode.STATE_EXPIRED}": "This transfer has expired.",
        f"error.{ErrorCode.SESSION_EXPIRED}": "This transfer has expired.",
        f"error.{ErrorCode.SESSION_NOT_FOUND}": "This transfer does not exist (any more).",
        f"error.{ErrorCode.SESSION_MISMATCH}": "The reply does not belong to this transfer.",
        f"error.{ErrorCode.SESSION_ALREADY_COMPLETED}": "This transfer has already been completed.",
    },
    "nl": {
        "received.title": "Je resultaten zijn ontvangen",
        "received.lead": "Je studieresultaten zijn veilig aangekomen en de digitale handtekening is gecontroleerd.",
        "received.institutions": "Instelling",
        "received.courses": "Aantal vakken",
        "received.credits": "Studiepunten (ECTS)",
        "received.review": "De toelatingsafdeling controleert of deze resultaten bij jou horen.",
        "cancelled.title": "De overdracht is geannuleerd",
        "cancelled.lead": "Je hebt de overdracht bij de aanbieder geannuleerd. Er zijn geen resultaten ontvangen.",
        "no_results.title": "Er zijn geen resultaten gevonden",
        "no_results.lead": "De aanbieder had geen resultaten om te versturen. Er zijn geen resultaten ontvangen.",
        "provider_error.title": "De aanbieder meldt een probleem",
        "provider_error.lead": "Er ging iets mis bij de aanbieder. Er zijn geen resultaten ontvangen.",
        "provider_error.message": "Bericht van de aanbieder (niet door ons gecontroleerd):",
        "rejected.title": "Je resultaten konden niet worden gecontroleerd",
        "rejected.lead": (
            "We hebben een antwoord ontvangen, maar konden niet vaststellen dat het echt van de aanbieder komt. "
            "Het is daarom niet geaccepteerd. Probeer het later opnieuw of neem contact op met de toelatingsafdeling."
        ),
        "support": "Code voor de helpdesk:",
        "back": "Terug naar je aanmelding",
        "restart": "Ga terug naar je aanmeldformulier en start de overdracht opnieuw.",
        "error.title": "Deze overdracht kan niet worden afgerond",
        "unavailable.title": "Tijdelijk niet beschikbaar",
        "unavailable.lead": (
            "We konden het antwoord nu niet verwerken; er is niets opgeslagen. Ga terug en probeer het over een "
            "paar minuten opnieuw."
        ),
        f"error.{ErrorCode.BODY_TOO_LARGE}": "Het antwoord van de aanbieder is groter dan we kunnen accepteren.",
        f"error.{ErrorCode.FORM_INVALID}": "Het antwoord van de aanbieder kon niet worden gelezen.",
        f"error.{ErrorCode.STATE_INVALID}": "Deze link is niet geldig.",
        f"error.{ErrorCode.STATE_EXPIRED}": "Deze overdracht is verlopen.",
        f"error.{ErrorCode.SESSION_EXPIRED}": "Deze overdracht is verlopen.",
        f"error.{ErrorCode.SESSION_NOT_FOUND}": "Deze overdracht bestaat niet (meer).",
        f"error.{ErrorCode.SESSION_MISMATCH}": "Het antwoord hoort niet bij deze overdracht.",
        f"error.{ErrorCode.SESSION_ALREADY_COMPLETED}": "Deze overdracht is al afgerond.",
    },
}

ERROR_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.FORM_INVALID: 400,
    ErrorCode.STATE_INVALID: 400,
    ErrorCode.STATE_EXPIRED: 410,
    ErrorCode.SESSION_EXPIRED: 410,
    ErrorCode.SESSION_NOT_FOUND: 404,
    ErrorCode.SESSION_MISMATCH: 400,
    ErrorCode.SESSION_ALREADY_COMPLETED: 409,
}


def _t(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"]).get(key) or TEXT["en"][key]


@dataclass(frozen=True)
class ReturnLink:
    """Where the "back" button goes: the enrolment form's ``return_url`` plus transfer id and outcome."""

    return_url: str
    transfer_id: str
    outcome: str

    @property
    def href(self) -> str:
        return return_link(self.return_url, self.transfer_id, self.outcome)


def return_link(return_url: str, transfer_id: str, outcome: str) -> str:
    """``return_url`` with ``session_id`` and ``outcome`` set in its query (other parameters kept)."""
    parts = urlsplit(return_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in {"session_id", "outcome"}]
    query += [("session_id", transfer_id), ("outcome", outcome)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def outcome_page(outcome: Mapping[str, Any], *, lang: str, link: ReturnLink | None) -> HttpResponse:
    """The page for a stored outcome (``received``, ``rejected``, ``cancelled``, ...)."""
    status = str(outcome.get("status", ""))
    if status == "received":
        body = _received_body(outcome, lang)
        kind = "success"
    elif status == "rejected":
        code = str((outcome.get("error") or {}).get("code", ""))
        body = _para(_t(lang, "rejected.lead")) + _support_code(lang, code)
        kind = "error"
    elif status == "provider_error":
        body = _para(_t(lang, "provider_error.lead")) + _provider_message(lang, outcome.get("return_message"))
        kind = "error"
    elif status in {"cancelled", "no_results"}:
        body = _para(_t(lang, f"{status}.lead"))
        kind = ""
    else:
        raise ValueError(f"no outcome page for status {status!r}")
    title = _t(lang, f"{status}.title")
    return html_response(200, _page(lang, title, body, kind, link))


def error_page(code: ErrorCode, *, lang: str, link: ReturnLink | None = None) -> HttpResponse:
    """A refusal page with the error code for support; a back button only when the transfer is known."""
    status = ERROR_STATUS.get(code, 400)
    reason_key = f"error.{code}"
    reason = _t(lang, reason_key) if reason_key in TEXT["en"] else ""
    body = _para(reason) if reason else ""
    if link is None:
        body += _para(_t(lang, "restart"))
    body += _support_code(lang, code.value)
    return html_response(status, _page(lang, _t(lang, "error.title"), body, "error", link))


def _received_body(outcome: Mapping[str, Any], lang: str) -> str:
    summary = outcome.get("summary") or {}
    issuers: Sequence[Mapping[str, Any]] = summary.get("issuers") or []
    names = [str(i.get("name") or "") for i in issuers if i.get("name")]
    rows = [
        (_t(lang, "received.institutions"), ", ".join(names) or "-"),
        (_t(lang, "received.courses"), str(summary.get("course_count", "-"))),
        (_t(lang, "received.credits"), str(summary.get("total_ects", "-"))),
    ]
    table = "<table>" + "".join(f'<tr><th scope="row">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in rows)
    table += "</table>"
    verdict = str((outcome.get("identity") or {}).get("verdict", ""))
    review = _para(_t(lang, "received.review")) if verdict != "MATCH" else ""
    return _para(_t(lang, "received.lead")) + table + review


def _provider_message(lang: str, message: object) -> str:
    text = str(message or "").strip()[:MAX_SHOWN_MESSAGE_CHARS]
    if not text:
        return ""
    return f'<p class="muted">{escape(_t(lang, "provider_error.message"))} <q>{escape(text)}</q></p>'


def _support_code(lang: str, code: str) -> str:
    if not code:
        return ""
    return f'<p class="muted">{escape(_t(lang, "support"))} <code>{escape(code)}</code></p>'


def _para(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def _page(lang: str, title: str, body: str, kind: str, link: ReturnLink | None) -> str:
    role = ' role="alert"' if kind == "error" else ' role="status"'
    html = f'<h1>{escape(title)}</h1><div class="notice {escape(kind)}"{role}>{body}</div>'
    if link is not None:
        html += f'<p><a class="button" href="{escape(link.href, quote=True)}">{escape(_t(lang, "back"))}</a></p>'
    return render_page(lang=lang, title=title, body_html=html)


def unavailable_page(lang: str) -> HttpResponse:
    """Something on our side failed before the outcome was stored: nothing was recorded, retrying is safe."""
    body = _para(_t(lang, "unavailable.lead"))
    return html_response(503, _page(lang, _t(lang, "unavailable.title"), body, "error", None))
