"""The two systems around the EMC in the local demo: a university's enrolment form and its SIS.

* :class:`EnrolmentForm`: the applicant fills in name, birth date and language; the form's backend calls
  ``POST {api}/sessions`` with the bearer token and redirects (303) to the returned ``start_url``. Its
  ``/return`` page shows what the EMC appended to the return URL and the transfer's status, fetched
  server-side with ``GET {api}/sessions/{id}``. The form speaks the browser's language (or ``?lang=``), its
  return page and its error pages the language chosen in the form (texts: :mod:`emrex_emc.local.demo_texts`).
* :class:`DemoSis`: consumes the EMC's events from the SQS queue behind the EventBridge rule (deduplicating by
  ``detail.event_id``: delivery is at least once), keeps them in memory, appends each whole EventBridge
  event as one JSON line to the events file, deletes handled messages, and lists them newest first.

Both are served through :mod:`emrex_emc.local.apigw` like the real handlers. Everything shown is escaped.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from emrex_emc.core.text import clip
from emrex_emc.local.apigw import Route
from emrex_emc.local.demo_texts import CATALOG
from emrex_emc.web.html import Markup, join, page
from emrex_emc.web.http import HttpRequest, HttpResponse, html_response, json_response
from emrex_emc.web.i18n import SOURCE_LANGUAGE, SUPPORTED_LANGUAGES, language_name, pick_language

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applicant:
    given_names: str
    family_name: str
    birth_date: str


DEMO_APPLICANT = Applicant(given_names="Astrid Maria", family_name="Lindqvist", birth_date="1999-04-17")
"""Prefilled in the enrolment form and the mock EMP, so the demo gives a MATCH without typing."""


def _field(label: str, name: str, value: str, kind: str = "text") -> Markup:
    return Markup(
        '<label for="{name}">{label}</label><input id="{name}" name="{name}" type="{kind}" value="{value}" required>'
    ).format(name=name, label=label, kind=kind, value=value)


_DEMO_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'"
"""The demo enrolment form's backend answers its POST with a redirect to the EMC (another origin here)."""


def _page(lang: str, title: str, body: Markup) -> HttpResponse:
    html = page(lang=lang, title=title, body=Markup("<h1>{}</h1>").format(title) + body)
    return html_response(200, html, extra_headers={"content-security-policy": _DEMO_CSP})


def _language_options(selected: str) -> Markup:
    """Every page language, each named in itself (and marked as being in that language)."""
    return join(
        Markup('<option value="{code}" lang="{code}"{selected}>{name}</option>').format(
            code=code, name=language_name(code, code), selected=Markup(" selected") if code == selected else ""
        )
        for code in SUPPORTED_LANGUAGES
    )


def _error_page(status: int, lang: str, problem: str, **values: object) -> HttpResponse:
    """The form's page for ``problem`` (its texts ``error.<problem>.title`` and ``.message``) in ``lang``;
    its link goes back to the form in that language."""
    title = CATALOG.text(lang, f"error.{problem}.title")
    body = Markup('<h1>{}</h1><p class="notice error" role="alert">{}</p><p><a href="/?{}">{}</a></p>').format(
        title,
        CATALOG.text(lang, f"error.{problem}.message", **values),
        urlencode({"lang": lang}),
        CATALOG.text(lang, "error.back"),
    )
    return html_response(status, page(lang=lang, title=title, body=body))


def _as_app(function_name: str, routes: Mapping[tuple[str, str], Callable[[HttpRequest], HttpResponse]]) -> list[Route]:
    def wrap(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        return lambda event, _context: view(HttpRequest.from_apigw(event)).to_apigw()

    return [Route(method, path, function_name, wrap(view)) for (method, path), view in routes.items()]


class EnrolmentForm:
    """A university enrolment form's front and back end, talking to the EMC's enrolment API."""

    def __init__(self, *, api_base_url: str, api_token: str, base_url: str, http: httpx.Client | None = None) -> None:
        self.api_base_url = api_base_url.rstrip("/")
        self.base_url = base_url.rstrip("/")
        self._token = api_token
        self._http = http or httpx.Client(timeout=30)
        self._transfers: dict[str, tuple[str, str]] = {}
        """Return reference -> (transfer id, language): what a real backend keeps in the applicant's record."""

    def close(self) -> None:
        self._http.close()

    @property
    def return_url_prefix(self) -> str:
        return f"{self.base_url}/return"

    def routes(self) -> list[Route]:
        return _as_app(
            "demo_enrolment_form",
            {
                ("GET", "/"): self.form,
                ("POST", "/apply"): self.apply,
                ("GET", "/return"): self.returned,
                ("GET", "/status/{id}"): self.status,
            },
        )

    def form(self, request: HttpRequest) -> HttpResponse:
        lang = pick_language(request.query.get("lang"), request.headers.get("accept-language"))
        text = CATALOG.text
        applicant = DEMO_APPLICANT
        body = (
            Markup('<p>{}</p><form method="post" action="/apply">').format(text(lang, "form.intro"))
            + _field(text(lang, "form.given_names"), "given_names", applicant.given_names)
            + _field(text(lang, "form.family_name"), "family_name", applicant.family_name)
            + _field(text(lang, "form.birth_date"), "birth_date", applicant.birth_date, "date")
            + Markup(
                '<label for="locale">{}</label><select id="locale" name="locale">{}</select>'
                '<p><button type="submit" id="start-transfer">{}</button></p></form>'
            ).format(text(lang, "form.language"), _language_options(lang), text(lang, "form.submit"))
        )
        return _page(lang, text(lang, "form.title"), body)

    def apply(self, request: HttpRequest) -> HttpResponse:
        try:
            form = request.form()
        except ValueError:
            return _error_page(400, pick_language(None, request.headers.get("accept-language")), "invalid_form")
        lang = pick_language(form.get("locale"), request.headers.get("accept-language"))
        reference = secrets.token_urlsafe(12)
        payload = {
            "applicant_id": f"demo-{secrets.token_hex(4)}",
            "given_names": form.get("given_names", ""),
            "family_name": form.get("family_name", ""),
            "birth_date": form.get("birth_date", ""),
            "locale": form.get("locale", ""),
            "return_url": f"{self.return_url_prefix}?{urlencode({'ref': reference})}",
        }
        try:
            response = self._http.post(
                f"{self.api_base_url}/sessions", json=payload, headers={"authorization": f"Bearer {self._token}"}
            )
        except httpx.HTTPError as exc:
            return _error_page(502, lang, "unreachable", error=clip(exc, 500))
        if response.status_code != 201:
            return _error_page(400, lang, "refused", error=clip(response.text, 500))
        created = response.json()
        self._transfers[reference] = (str(created["id"]), pick_language(payload["locale"], None))
        return HttpResponse(status=303, headers={"location": str(created["start_url"]), "cache-control": "no-store"})

    def returned(self, request: HttpRequest) -> HttpResponse:
        known = self._transfers.get(request.query.get("ref", ""))
        lang = known[1] if known else pick_language(None, request.headers.get("accept-language"))
        text = CATALOG.text
        rows = join(
            Markup("<tr><th scope='row'>{}</th><td>{}</td></tr>").format(k, v) for k, v in request.query.items()
        )
        body = Markup('<p>{}</p><table id="return-query">{}</table>').format(text(lang, "return.lead"), rows)
        if known is None:
            body += Markup('<p class="notice error" role="alert">{}</p>').format(text(lang, "return.unknown"))
        else:
            body += self._status_html(known[0], lang)
            body += Markup('<p><a id="status-link" href="/status/{}">{}</a></p>').format(
                quote(known[0]), text(lang, "return.status_link")
            )
        return _page(lang, text(lang, "return.title"), body)

    def status(self, request: HttpRequest) -> HttpResponse:
        transfer_id = request.path_params.get("id", "")
        languages = [lang for known_id, lang in self._transfers.values() if known_id == transfer_id]
        if not languages:
            lang = pick_language(request.query.get("lang"), request.headers.get("accept-language"))
            return _error_page(404, lang, "unknown_transfer")
        return _page(
            languages[0], CATALOG.text(languages[0], "status.title"), self._status_html(transfer_id, languages[0])
        )

    def _status_html(self, transfer_id: str, lang: str) -> Markup:
        text = CATALOG.text
        try:
            response = self._http.get(
                f"{self.api_base_url}/sessions/{quote(transfer_id)}", headers={"authorization": f"Bearer {self._token}"}
            )
            data: Any = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return Markup('<p class="notice error" role="alert">{}</p>').format(
                text(lang, "status.unavailable", error=clip(exc))
            )
        status = data.get("status", "") if isinstance(data, dict) else ""
        outcome = data.get("outcome") if isinstance(data, dict) else None
        verdict = outcome.get("identity", "") if isinstance(outcome, dict) else ""
        identity = " · " + text(lang, "status.identity", verdict=verdict) if verdict else ""
        # the status and the JSON are the API's own words, not the page language's
        return Markup(
            '<p>{} <strong id="transfer-status" lang="{}">{}</strong>{}</p><pre id="transfer-json" lang="{}">{}</pre>'
        ).format(
            text(lang, "status.label"),
            SOURCE_LANGUAGE,
            status,
            identity,
            SOURCE_LANGUAGE,
            json.dumps(data, indent=2, ensure_ascii=False),
        )


@dataclass
class DemoSis:
    """A student information system consuming the EMC's events from its SQS queue."""

    sqs_client: Any
    queue_url: str
    events_file: Path | None = None
    name: str = "demo SIS"
    """Who consumes this queue, as the log names it (the runner's log of every event on the bus is another)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name.replace(" ", "-"), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive, record and delete one batch of messages; returns how many were new events."""
        response = self.sqs_client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        new = 0
        for message in response.get("Messages", []):
            try:
                event = json.loads(message["Body"])
            except ValueError:
                logger.error("%s: dropping a message that is not JSON", self.name)
            else:
                new += self._record(event)
            self.sqs_client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return new

    def _record(self, event: dict[str, Any]) -> int:
        detail = _detail(event)
        key = str(detail.get("event_id") or event.get("id") or "")
        with self._lock:
            if key and key in self._seen:
                self.duplicates += 1
                return 0
            self._seen.add(key)
            self.events.append(event)
            if self.events_file is not None:
                self.events_file.parent.mkdir(parents=True, exist_ok=True)
                with self.events_file.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        logger.info("%s received %s", self.name, clip(event.get("detail-type"), 100))
        return 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("%s: receiving from the queue failed", self.name)
                self._stop.wait(1)

    def routes(self) -> list[Route]:
        return _as_app("demo_sis", {("GET", "/"): self.page, ("GET", "/events.json"): self.events_json})

    def events_json(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            return json_response(200, list(reversed(self.events)))

    def page(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            newest_first = list(reversed(self.events))
        body = Markup(
            "<p>{} event(s) received from the EMC (newest first). Reload to update.</p>"
            '<table id="events"><thead><tr><th>Time</th><th>Detail type</th><th>Transfer</th><th>Outcome</th>'
            "<th>Summary</th></tr></thead><tbody>{}</tbody></table>"
        ).format(len(newest_first), join(_event_row(event) for event in newest_first))
        return _page(SOURCE_LANGUAGE, "Demo SIS: EMREX events", body)


def _event_row(event: Mapping[str, Any]) -> Markup:
    detail = _detail(event)
    transfer = detail.get("session_id") or ""
    outcome = " ".join(str(part) for part in _outcome_parts(detail) if part)
    cells = (
        event.get("time", ""),
        event.get("detail-type", ""),
        transfer,
        outcome,
        _summary_text(detail.get("summary")),
    )
    return Markup("<tr>{}</tr>").format(join(Markup("<td>{}</td>").format(cell) for cell in cells))


def _summary_text(summary: Any) -> str:
    """``3 courses, 18 ECTS (Universiteit van Voorbeeld)`` for a results summary; other values as JSON."""
    if not isinstance(summary, Mapping):
        return "" if summary in (None, "") else json.dumps(summary, ensure_ascii=False)
    issuers = ", ".join(str(i.get("name", "")) for i in summary.get("issuers", []) if isinstance(i, Mapping))
    text = f"{summary.get('course_count', '?')} courses, {summary.get('total_ects', '?')} ECTS"
    if summary.get("attachment_count"):
        text += f", {summary['attachment_count']} attachment(s)"
    return f"{text} ({issuers})" if issuers else text


def _detail(event: Mapping[str, Any]) -> Mapping[str, Any]:
    detail = event.get("detail")
    return detail if isinstance(detail, Mapping) else {}


def _outcome_parts(detail: Mapping[str, Any]) -> list[Any]:
    identity = detail.get("identity")
    verdict = identity.get("verdict") if isinstance(identity, Mapping) else identity
    error = detail.get("error")
    code = error.get("code") if isinstance(error, Mapping) else error
    return [detail.get("status"), verdict, code]
