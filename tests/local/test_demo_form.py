"""The demo enrolment form's backend: it calls the enrolment API with the bearer token and redirects."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import lxml.html
import pytest

from emrex_emc.local.demo_apps import EnrolmentForm
from emrex_emc.local.demo_texts import CATALOG, DEMO_TEXTS
from emrex_emc.web.http import HttpRequest
from emrex_emc.web.i18n import SUPPORTED_LANGUAGES

TOKEN = "demo-token-0123456789abcdef"
TRANSFER_ID = "ab" * 16


class FakeApi:
    def __init__(self, status: int = 201) -> None:
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST":
            body = {"id": TRANSFER_ID, "start_url": f"http://api.test/start/{TRANSFER_ID}"}
            return httpx.Response(self.status, json=body if self.status == 201 else {"error": {"code": "X"}})
        return httpx.Response(200, json={"id": TRANSFER_ID, "status": "received", "outcome": {"identity": "MATCH"}})


def _form(api: FakeApi) -> EnrolmentForm:
    client = httpx.Client(transport=httpx.MockTransport(api))
    return EnrolmentForm(api_base_url="http://api.test", api_token=TOKEN, base_url="http://form.test", http=client)


def _apply(form: EnrolmentForm, **fields: str) -> tuple[int, dict[str, str], str]:
    values = {"given_names": "Zoë", "family_name": "<Lind>", "birth_date": "1998-02-28", "locale": "nl", **fields}
    request = HttpRequest(
        method="POST",
        path="/apply",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(values).encode(),
    )
    response = form.apply(request)
    return response.status, response.headers, str(response.body)


def test_apply_creates_a_transfer_and_redirects_to_the_start_url() -> None:
    api = FakeApi()
    form = _form(api)
    status, headers, _ = _apply(form)
    assert (status, headers["location"]) == (303, f"http://api.test/start/{TRANSFER_ID}")
    (sent,) = api.requests
    assert sent.url == "http://api.test/sessions"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    payload = json.loads(sent.content)
    assert payload["given_names"] == "Zoë" and payload["family_name"] == "<Lind>" and payload["locale"] == "nl"
    assert payload["birth_date"] == "1998-02-28"
    assert payload["return_url"].startswith(form.return_url_prefix + "?ref=")

    reference = parse_qs(urlsplit(payload["return_url"]).query)["ref"][0]
    page = form.returned(HttpRequest(method="GET", path="/return", query={"ref": reference, "outcome": "<received>"}))
    assert "&lt;received&gt;" in str(page.body) and "<received>" not in str(page.body)
    doc = lxml.html.fromstring(str(page.body))
    assert doc.xpath("//*[@id='transfer-status']/text()") == ["received"]
    # in the language chosen in the form (nl), whatever the browser says
    assert doc.get("lang") == "nl" and doc.xpath("//h1/text()") == ["Welkom terug"]
    assert api.requests[-1].url == f"http://api.test/sessions/{TRANSFER_ID}"


@pytest.mark.parametrize("status", [400, 401, 500])
def test_a_refusal_by_the_api_is_shown_not_followed(status: int) -> None:
    code, headers, body = _apply(_form(FakeApi(status=status)), locale="en")
    assert code == 400
    assert "location" not in headers
    assert "The EMREX client refused the request" in body


def test_unknown_return_reference_and_foreign_transfer_are_refused() -> None:
    form = _form(FakeApi())
    page = form.returned(HttpRequest(method="GET", path="/return", query={"ref": "forged"}))
    assert "This form does not know the return reference." in str(page.body)
    status = form.status(HttpRequest(method="GET", path=f"/status/{TRANSFER_ID}", path_params={"id": TRANSFER_ID}))
    assert status.status == 404


@pytest.mark.parametrize(
    ("query", "accept_language", "lang", "title"),
    [
        ({}, "el-GR,el;q=0.9", "el", "Αίτηση εγγραφής"),
        ({"lang": "mt"}, "de-DE", "mt", "Formola ta’ applikazzjoni"),  # ?lang= wins
        ({"lang": "xx"}, "fi", "fi", "Hakulomake"),
        ({}, "", "en", "Enrolment form"),
    ],
)
def test_the_form_speaks_the_browser_language(
    query: dict[str, str], accept_language: str, lang: str, title: str
) -> None:
    request = HttpRequest(method="GET", path="/", query=query, headers={"accept-language": accept_language})
    doc = lxml.html.fromstring(str(_form(FakeApi()).form(request).body))
    assert doc.get("lang") == lang and doc.xpath("//h1/text()") == [title]
    options = doc.xpath("//select[@name='locale']/option")
    assert [option.get("value") for option in options] == list(SUPPORTED_LANGUAGES)
    assert all(option.get("lang") == option.get("value") for option in options)  # each named in itself
    assert [option.get("value") for option in options if option.get("selected") is not None] == [lang]
    names = {option.get("value"): option.text_content() for option in options}
    assert (names["el"], names["de"], names["ga"], names["pt"]) == ("Ελληνικά", "Deutsch", "Gaeilge", "português")
    assert doc.xpath("//label/text()")[3] == CATALOG.text(lang, "form.language")


def test_the_return_page_follows_the_language_chosen_in_the_form() -> None:
    api = FakeApi()
    form = _form(api)
    _apply(form, locale="sl-SI")
    reference = parse_qs(urlsplit(json.loads(api.requests[0].content)["return_url"]).query)["ref"][0]
    request = HttpRequest(method="GET", path="/return", query={"ref": reference}, headers={"accept-language": "en"})
    doc = lxml.html.fromstring(str(form.returned(request).body))
    assert doc.get("lang") == "sl" and doc.xpath("//h1/text()") == ["Dobrodošli nazaj"]
    status = form.status(HttpRequest(method="GET", path=f"/status/{TRANSFER_ID}", path_params={"id": TRANSFER_ID}))
    assert lxml.html.fromstring(str(status.body)).xpath("//h1/text()") == ["Stanje prenosa"]


# --- the form's error pages, in the form's language ------------------------------------------------------


def _error_page_says(body: str) -> tuple[str | None, str, str, str, str]:
    """The page's language, heading, message, back link and its text."""
    doc = lxml.html.fromstring(body)
    (link,) = doc.xpath("//a")
    return (
        doc.get("lang"),
        doc.xpath("string(//h1)"),
        doc.xpath("string(//*[@role='alert'])"),
        link.get("href"),
        link.text,
    )


def test_a_refusal_by_the_api_is_shown_in_the_language_chosen_in_the_form() -> None:
    code, _, body = _apply(_form(FakeApi(status=400)), locale="de-AT")
    assert code == 400
    assert _error_page_says(body) == (
        "de",
        "Nicht angenommen",
        'Der EMREX-Client hat die Anfrage abgelehnt: {"error":{"code":"X"}}',
        "/?lang=de",
        "Zurück zum Formular",
    )


def test_an_unreachable_api_is_shown_in_the_language_chosen_in_the_form() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("<b>connection\u202e refused</b>")

    form = EnrolmentForm(
        api_base_url="http://api.test",
        api_token=TOKEN,
        base_url="http://form.test",
        http=httpx.Client(transport=httpx.MockTransport(down)),
    )
    code, _, body = _apply(form, locale="el")
    assert code == 502
    assert _error_page_says(body) == (
        "el",
        "Ο πελάτης EMREX δεν είναι προσβάσιμος",
        "Ο πελάτης EMREX δεν απάντησε: <b>connection refused</b>",  # clipped (no RLO) and escaped
        "/?lang=el",
        "Επιστροφή στη φόρμα",
    )
    assert "&lt;b&gt;connection refused&lt;/b&gt;" in body


def test_an_unreadable_form_is_shown_in_the_browser_language() -> None:
    request = HttpRequest(
        method="POST",
        path="/apply",
        headers={"content-type": "application/x-www-form-urlencoded", "accept-language": "el-GR,el;q=0.9"},
        body=b"given_names=\xff",
    )
    response = _form(FakeApi()).apply(request)
    assert response.status == 400
    assert _error_page_says(str(response.body))[:3] == (
        "el",
        "Μη έγκυρη φόρμα",
        "Δεν ήταν δυνατή η ανάγνωση της φόρμας.",
    )


def test_a_transfer_the_form_did_not_start_is_shown_in_the_asked_language() -> None:
    request = HttpRequest(
        method="GET",
        path=f"/status/{TRANSFER_ID}",
        path_params={"id": TRANSFER_ID},
        query={"lang": "de"},
        headers={"accept-language": "el"},
    )
    response = _form(FakeApi()).status(request)
    assert response.status == 404
    assert _error_page_says(str(response.body)) == (
        "de",
        "Nicht gefunden",
        "Diese Übertragung wurde nicht mit diesem Formular begonnen.",
        "/?lang=de",
        "Zurück zum Formular",
    )


@pytest.mark.parametrize("lang", [lang for lang in SUPPORTED_LANGUAGES if lang != "en"])
def test_every_error_text_of_the_form_is_translated(lang: str) -> None:
    keys = [key for key in DEMO_TEXTS if key.startswith("error.")]
    assert len(keys) == 9
    assert [key for key in keys if CATALOG.text(lang, key, error="E") == CATALOG.text("en", key, error="E")] == []


def test_a_return_the_form_does_not_know_is_announced_as_an_alert() -> None:
    request = HttpRequest(method="GET", path="/return", query={"ref": "unknown"}, headers={"accept-language": "de"})
    page = str(_form(FakeApi()).returned(request).body)
    assert '<p class="notice error" role="alert">' in page and 'lang="de"' in page
