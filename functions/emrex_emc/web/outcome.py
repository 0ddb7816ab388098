"""The page a student sees once the EMP answered: what was received, or why not and what to do next, and
the way back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from emrex_emc.core.protocol import Status
from emrex_emc.web.help import ask_with_support_code, next_steps, staff_code
from emrex_emc.web.html import Markup, isolated_list, join, page
from emrex_emc.web.http import HttpResponse, html_response
from emrex_emc.web.i18n import decimal, pick_language
from emrex_emc.web.texts import t

if TYPE_CHECKING:
    from emrex_emc.core.outcome import Outcome
    from emrex_emc.core.transfer import Transfer

MAX_SHOWN_MESSAGE_CHARS = 200


def return_link(return_url: str, transfer_id: str, status: str) -> str:
    """``return_url`` with ``session_id`` and ``outcome`` set in its query (other parameters kept)."""
    parts = urlsplit(return_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in {"session_id", "outcome"}]
    query += [("session_id", transfer_id), ("outcome", status)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@dataclass(frozen=True)
class ReturnLink:
    """The "back" button: the enrolment form's ``return_url`` with the transfer id and its status."""

    return_url: str
    transfer_id: str
    status: str

    @property
    def href(self) -> str:
        return return_link(self.return_url, self.transfer_id, self.status)


NEXT_STEPS: dict[Status, tuple[str, ...]] = {
    Status.REJECTED: ("advice.restart", "rejected.next.later"),
    Status.PROVIDER_ERROR: ("provider_error.next",),
    Status.NO_RESULTS: ("no_results.next",),
    Status.CANCELLED: ("cancelled.next",),
}
"""What a student can do after an outcome without results (text keys), before whom to ask."""
ASK_FOR_HELP = frozenset({Status.REJECTED, Status.PROVIDER_ERROR, Status.NO_RESULTS})
"""Outcomes whose page also says to contact the admissions office, quoting the transfer's support code."""


def transfer_outcome_page(transfer: Transfer, outcome: Outcome, accept_language: str | None) -> HttpResponse:
    """The outcome page of a transfer in its locale (else the browser's), with the way back to the application."""
    lang = pick_language(transfer.locale, accept_language)
    link = ReturnLink(transfer.return_url, transfer.id, outcome.status.value)
    return outcome_page(outcome, lang=lang, transfer_id=transfer.id, link=link)


def outcome_page(outcome: Outcome, *, lang: str, transfer_id: str, link: ReturnLink | None) -> HttpResponse:
    status = outcome.status
    kind = ""
    if status is Status.RECEIVED:
        body, kind = _received(outcome, lang), "success"
    elif status is Status.REJECTED:
        body, kind = _para(t(lang, "rejected.lead")), "error"
    elif status is Status.PROVIDER_ERROR:
        body, kind = _para(t(lang, "provider_error.lead")) + _provider_message(lang, outcome.return_message), "error"
    elif status in {Status.CANCELLED, Status.NO_RESULTS}:
        body = _para(t(lang, f"{status.value}.lead"))
    else:
        raise ValueError(f"no outcome page for status {status.value!r}")
    title = t(lang, f"{status.value}.title")
    role = "alert" if kind == "error" else "status"
    html = Markup('<h1>{}</h1><div class="notice {}" role="{}">{}</div>').format(title, kind, role, body)
    steps = [t(lang, key) for key in NEXT_STEPS.get(status, ())]
    html += next_steps(lang, steps, ask_with_support_code(lang, transfer_id) if status in ASK_FOR_HELP else None)
    if status is Status.REJECTED and outcome.error_code:
        html += staff_code(lang, outcome.error_code)
    if link is not None:
        html += Markup('<p><a class="button" href="{}">{}</a></p>').format(link.href, t(lang, "back"))
    return html_response(200, page(lang=lang, title=title, body=html))


def _received(outcome: Outcome, lang: str) -> Markup:
    summary = outcome.summary
    rows: list[tuple[str, Markup | str]] = [
        (t(lang, "received.institutions"), isolated_list(summary.issuer_names()) if summary else ""),
        (t(lang, "received.courses"), str(summary.course_count) if summary else "-"),
        (t(lang, "received.credits"), decimal(summary.total_ects, lang) if summary else "-"),
    ]
    if summary is not None and summary.attachment_count:
        rows.append((t(lang, "received.attachments"), str(summary.attachment_count)))
    table = Markup("<table>{}</table>").format(
        join(Markup('<tr><th scope="row">{}</th><td>{}</td></tr>').format(k, v or "-") for k, v in rows)
    )
    review = _para(t(lang, "received.review")) if outcome.identity_verdict != "MATCH" else Markup("")
    provenance = outcome.provenance
    if provenance is not None and provenance.verdict == "not_covered":
        review += Markup('<p id="provenance-check">{}</p>').format(t(lang, "received.provenance_check"))
    return _para(t(lang, "received.lead")) + table + review


def _provider_message(lang: str, message: str | None) -> Markup:
    text = (message or "").strip()[:MAX_SHOWN_MESSAGE_CHARS]
    if not text:
        return Markup("")
    # the EMP's words, in whatever script: isolated from the sentence around them
    return Markup('<p class="muted">{} <q dir="auto">{}</q></p>').format(t(lang, "provider_error.message"), text)


def _para(text: str) -> Markup:
    return Markup("<p>{}</p>").format(text)
