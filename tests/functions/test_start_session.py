import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from emrex_emc.adapters.aws import client as aws_client
from emrex_emc.adapters.registry_store import SNAPSHOT_PK, RegistryStore
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.provenance import Coverage
from emrex_emc.core.registry import CoveredInstitution, Emp, RegistrySnapshot, emp_id
from emrex_emc.core.transfer import Transfer, support_code
from emrex_emc.web.outcome import return_link
from emrex_emc.web.start import CSRF_COOKIE_PLAIN, CSRF_COOKIE_SECURE, group_emps
from start_session import handler as start
from tests.functions.conftest import AwsEnv, apigw_event, rewired
from tests.lambda_context import LAMBDA_CONTEXT

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def _emp(country: str, name: str, url: str, *, institutions: tuple[str, ...] = (), single: bool = False) -> Emp:
    return Emp(
        id=emp_id(country, url),
        name=name,
        url=url,
        country=country,
        institutions=institutions,
        certificates=(f"{name} cert".encode(),),
        single_fetch=single,
    )


NO = _emp(
    "NO",
    "Norwegian EMP (Vitnemålsportalen)",
    "https://emp.example.no/emrex",
    institutions=("University of Oslo", "NTNU", "University of Bergen", "UiT"),
)
SE = _emp("SE", "Ladok EMP", "https://emp.example.se/emrex")
DK = _emp("DK", "Danish EMP", "https://emp.example.dk/emrex")
DE = _emp("DE", "German EMP", "https://emp.example.de/emrex")
BE = _emp("BE", "Belgian EMP", "https://emp.example.be/emrex")
FI_HELSINKI = _emp(
    "FI", "Finnish EMP", "https://emp.example.fi/helsinki", institutions=("University of Helsinki",), single=True
)
FI_AALTO = _emp("FI", "Finnish EMP", "https://emp.example.fi/aalto", institutions=("Aalto University",), single=True)
EMPS = (SE, NO, FI_HELSINKI, DK, FI_AALTO, DE, BE)


def store_snapshot(aws_env: AwsEnv, *, age: timedelta = timedelta(minutes=5), emps: tuple[Emp, ...] = EMPS) -> None:
    snapshot = RegistrySnapshot(fetched_at=datetime.now(UTC) - age, source="test", emps=emps)
    RegistryStore(aws_env.dynamodb, aws_env.table).save(snapshot)


fresh_handler = rewired(start)


@pytest.fixture
def registry(aws_env: AwsEnv) -> AwsEnv:
    store_snapshot(aws_env)
    return aws_env


def get_page(transfer_id: str, *, query: dict[str, str] | None = None, **headers: str) -> dict[str, Any]:
    event = apigw_event(
        "GET",
        f"/start/{transfer_id}",
        route_key="GET /start/{id}",
        path_params={"id": transfer_id},
        query=query,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
    )
    return start.handler(event, LAMBDA_CONTEXT)


def post_choice(transfer_id: str, fields: dict[str, str], cookies: list[str] | None = None) -> dict[str, Any]:
    from urllib.parse import urlencode

    event = apigw_event(
        "POST",
        f"/start/{transfer_id}",
        route_key="POST /start/{id}",
        path_params={"id": transfer_id},
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(fields),
        cookies=cookies,
    )
    return start.handler(event, LAMBDA_CONTEXT)


def csrf_of(response: dict[str, Any]) -> tuple[str, str]:
    """(cookie for the next request, hidden field value) from a chooser response."""
    cookie = response["cookies"][0].split(";")[0]
    doc = lxml.html.fromstring(response["body"])
    return cookie, doc.xpath("//input[@name='csrf']/@value")[0]


def choose(transfer_id: str, emp: Emp) -> dict[str, Any]:
    cookie, field = csrf_of(get_page(transfer_id))
    return post_choice(transfer_id, {"csrf": field, "emp": emp.id}, [cookie])


def legends(response: dict[str, Any]) -> list[str]:
    return [legend.text_content() for legend in lxml.html.fromstring(response["body"]).xpath("//fieldset/legend")]


def labels(response: dict[str, Any]) -> list[str]:
    return [label.text_content() for label in lxml.html.fromstring(response["body"]).xpath("//ul//label")]


# --- the chooser -----------------------------------------------------------------------------------------


def test_chooser_groups_by_country_sorted_in_english(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    response = get_page(make_transfer(locale="en").id)
    assert response["statusCode"] == 200
    assert legends(response) == ["Belgium", "Denmark", "Finland", "Germany", "Norway", "Sweden"]
    doc = lxml.html.fromstring(response["body"])
    finland = doc.xpath("//fieldset[legend='Finland']//label/text()")
    assert finland == ["Aalto University", "University of Helsinki"]  # single_fetch: one entry per institution
    norway = doc.xpath("//fieldset[legend='Norway']//li")[0].text_content()
    assert "Norwegian EMP" in norway and "University of Oslo" in norway and "and 1 more" in norway
    assert doc.xpath("/html/@lang") == ["en"]


def test_chooser_in_dutch_from_the_transfer_locale(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    response = get_page(make_transfer(locale="nl").id, accept_language="en-GB,en;q=0.9")
    assert legends(response) == ["België", "Denemarken", "Duitsland", "Finland", "Noorwegen", "Zweden"]
    doc = lxml.html.fromstring(response["body"])
    assert doc.xpath("/html/@lang") == ["nl"]
    assert doc.xpath("//h1/text()") == ["Waar heb je gestudeerd?"]


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [
        ("nl-BE,nl;q=0.9", "nl"),
        ("de-DE", "de"),
        ("ja-JP,el;q=0.5,fr;q=0.4", "el"),  # the best one we have
        ("fr;q=0.3, ga-IE;q=0.8", "ga"),  # by quality, not by position
        ("sv;q=0, mt", "mt"),  # q=0: not acceptable
        ("ja-JP, zh", "en"),
        ("", "en"),
    ],
)
def test_chooser_language_from_accept_language(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], accept_language: str, lang: str
) -> None:
    transfer = make_transfer(locale="")
    assert lxml.html.fromstring(get_page(transfer.id, accept_language=accept_language)["body"]).get("lang") == lang


def test_chooser_in_greek_with_greek_country_names(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    response = get_page(make_transfer(locale="el-GR").id, accept_language="en")
    doc = lxml.html.fromstring(response["body"])
    assert doc.get("lang") == "el"
    assert doc.xpath("//h1/text()") == ["Πού σπουδάσατε;"]
    assert legends(response) == ["Βέλγιο", "Γερμανία", "Δανία", "Νορβηγία", "Σουηδία", "Φινλανδία"]
    assert "και 1 ακόμη" in doc.xpath("//fieldset[legend='Νορβηγία']//li")[0].text_content()


def test_chooser_is_accessible(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    doc = lxml.html.fromstring(get_page(make_transfer().id)["body"])
    radios = doc.xpath("//form[@method='post']//input[@type='radio']")
    assert len(radios) == len(EMPS)
    for radio in radios:
        assert radio.get("name") == "emp"
        assert len(doc.xpath(f"//label[@for='{radio.get('id')}']")) == 1
    assert {radio.get("value") for radio in radios} == {emp.id for emp in EMPS}
    search = doc.xpath("//form[@method='get']//input[@name='q']")[0]
    assert doc.xpath(f"//label[@for='{search.get('id')}']")
    assert doc.xpath("//form[@method='post']//button[@type='submit']")
    assert "outline" in doc.xpath("//style")[0].text  # focus styles


def test_chooser_search_without_javascript(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer(locale="en")
    assert labels(get_page(transfer.id, query={"q": "oslo"})) == ["Norwegian EMP (Vitnemålsportalen)"]
    assert legends(get_page(transfer.id, query={"q": "Noorwegen"})) == ["Norway"]  # country name in any language
    assert legends(get_page(transfer.id, query={"q": "Νορβηγία"})) == ["Norway"]
    assert legends(get_page(transfer.id, query={"q": "soome"})) == ["Finland"]  # Estonian
    assert legends(get_page(transfer.id, query={"q": "Tanska"})) == ["Denmark"]  # Finnish
    assert labels(get_page(transfer.id, query={"q": "HELSINKI"})) == ["University of Helsinki"]
    assert legends(get_page(transfer.id, query={"q": "belgie"})) == ["Belgium"]  # accents ignored
    empty = get_page(transfer.id, query={"q": "Atlantis"})
    assert empty["statusCode"] == 200 and legends(empty) == []
    assert "Nothing matches" in lxml.html.fromstring(empty["body"]).text_content()


def status_of(response: dict[str, Any]) -> tuple[str, str]:
    """(the text of the page's one status region, the page title)"""
    doc = lxml.html.fromstring(response["body"])
    [status] = doc.xpath("//*[@role='status']")
    return status.text_content(), doc.xpath("//title")[0].text_content()


def test_search_announces_its_result_count_in_a_status_region(
    registry: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    english, polish = make_transfer(locale="en"), make_transfer(locale="pl")
    assert status_of(get_page(english.id, query={"q": "oslo"})) == (
        "1 result for “oslo”",
        "1 result for “oslo” – Where did you study?",
    )
    assert status_of(get_page(english.id, query={"q": "finnish"}))[0] == "2 results for “finnish”"
    assert status_of(get_page(english.id, query={"q": "Atlantis"}))[0].startswith("Nothing matches “Atlantis”.")
    # the plural forms of the page language: 1 wynik, 2-4 wyniki, 5+ wyników
    assert status_of(get_page(polish.id, query={"q": "emp"}))[0] == "7 wyników dla „emp”"
    assert status_of(get_page(polish.id, query={"q": "finnish"}))[0] == "2 wyniki dla „finnish”"
    assert status_of(get_page(polish.id, query={"q": "ladok"}))[0] == "1 wynik dla „ladok”"
    # without a search there is nothing to announce
    assert lxml.html.fromstring(get_page(english.id)["body"]).xpath("//*[@role='status']") == []


def test_search_query_is_escaped(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    body = get_page(make_transfer().id, query={"q": '<script>alert(1)</script>"'})["body"]
    assert "<script>alert" not in body
    assert '<script>alert(1)</script>"' in lxml.html.fromstring(body).text_content()


def test_grouping_sorts_by_localised_country_name() -> None:
    assert [g.code for g in group_emps(EMPS, lang="en")] == ["BE", "DK", "FI", "DE", "NO", "SE"]
    assert [g.code for g in group_emps(EMPS, lang="nl")] == ["BE", "DK", "DE", "FI", "NO", "SE"]
    assert group_emps(EMPS, lang="en", query="zzz") == []


def test_chooser_security_headers_and_cookie(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    response = get_page(make_transfer().id)
    headers = response["headers"]
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'none'" in csp and "form-action 'self'" in csp
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "<script" not in response["body"]
    cookie = response["cookies"][0]
    assert cookie.startswith(f"{CSRF_COOKIE_SECURE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"path", "httponly", "samesite", "secure", "max-age"} <= attributes
    assert "SameSite=Strict" in cookie and "Domain" not in cookie


def test_cookie_without_host_prefix_on_http_loopback(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMREX_PUBLIC_BASE_URL", "http://127.0.0.1:3000")
    start.reset()
    transfer = make_transfer()
    response = get_page(transfer.id)
    cookie = response["cookies"][0]
    assert cookie.startswith(f"{CSRF_COOKIE_PLAIN}=") and "Secure" not in cookie
    cookie_pair, field = csrf_of(response)
    chosen = post_choice(transfer.id, {"csrf": field, "emp": NO.id}, [cookie_pair])
    assert chosen["statusCode"] == 200
    return_url = dict(lxml.html.fromstring(chosen["body"]).xpath("//form")[0].form_values())["returnUrl"]
    assert return_url.startswith("http://127.0.0.1:3000/callback?state=")


def test_chooser_reuses_a_valid_csrf_cookie(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer()
    cookie, _ = csrf_of(get_page(transfer.id))
    name, _, value = cookie.partition("=")
    event = apigw_event("GET", f"/start/{transfer.id}", route_key="GET /start/{id}", path_params={"id": transfer.id})
    event["cookies"] = [cookie]
    again = start.handler(event, LAMBDA_CONTEXT)
    assert again["cookies"][0].startswith(f"{name}={value};")


# --- choosing an EMP -----------------------------------------------------------------------------------


def test_choose_renders_the_auto_submit_page(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer(locale="en")
    response = choose(transfer.id, NO)
    assert response["statusCode"] == 200
    doc = lxml.html.fromstring(response["body"])
    forms = doc.xpath("//form")
    assert len(forms) == 1
    form = forms[0]
    assert form.get("method") == "post"
    assert form.get("action") == NO.url
    assert form.get("enctype") == "application/x-www-form-urlencoded"
    named = [(element.get("name"), element.get("type")) for element in form.xpath(".//*[@name]")]
    assert named == [("sessionId", "hidden"), ("returnUrl", "hidden")]
    assert dict(form.form_values()).keys() == {"sessionId", "returnUrl"}
    # the no-JS path: a visible submit button without a name (so it adds no field)
    buttons = form.xpath(".//button")
    assert len(buttons) == 1 and buttons[0].get("type") == "submit" and buttons[0].get("name") is None
    assert "Norwegian EMP" in buttons[0].text_content()
    text = doc.text_content()
    assert "Norwegian EMP (Vitnemålsportalen)" in text and "Norway" in text
    # the only script submits that form, and the page's CSP allows exactly that script by hash
    scripts = doc.xpath("//script")
    assert len(scripts) == 1 and form.get("id") in scripts[0].text
    digest = base64.b64encode(hashlib.sha256(scripts[0].text.encode()).digest()).decode()
    csp = response["headers"]["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and response["headers"]["cache-control"] == "no-store"


def test_choose_in_dutch(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    doc = lxml.html.fromstring(choose(make_transfer(locale="nl").id, FI_AALTO)["body"])
    assert doc.get("lang") == "nl"
    assert "Aalto University (Finland)" in doc.text_content()
    assert "Verder naar Aalto University" in doc.xpath("//button")[0].text_content()


def test_choose_records_the_emp_session_and_signed_state(
    registry: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    transfer = make_transfer()
    form = dict(lxml.html.fromstring(choose(transfer.id, SE)["body"]).xpath("//form")[0].form_values())
    session_id = form["sessionId"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", session_id)
    return_url = form["returnUrl"]
    assert len(return_url) < 1000
    parts = urlsplit(return_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://emc.example/callback"
    (state,) = parse_qs(parts.query)["state"]
    claims = registry.signer.verify(state, now=transfer.deadline - 1)
    assert (claims.transfer_id, claims.session_id, claims.emp_id, claims.expires_at) == (
        transfer.id,
        session_id,
        SE.id,
        transfer.deadline,
    )
    with pytest.raises(EmrexError) as info:
        registry.signer.verify(state, now=transfer.deadline)
    assert info.value.code is ErrorCode.STATE_EXPIRED
    stored = registry.transfers.get(transfer.id)
    assert stored is not None and stored.start_used
    assert stored.emrex_session_id == session_id
    assert stored.emp.to_json() == {"id": SE.id, "name": SE.name, "country": "SE", "url": SE.url}
    assert stored.pinned_certs == SE.certificates
    assert stored.cert_fingerprints == (hashlib.sha256(SE.certificates[0]).hexdigest(),)


def test_session_ids_are_unique_across_transfers(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    seen = set()
    for _ in range(12):
        form = lxml.html.fromstring(choose(make_transfer().id, DK)["body"]).xpath("//form")[0]
        seen.add(dict(form.form_values())["sessionId"])
    assert len(seen) == 12
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", value) for value in seen)


def test_start_link_is_single_use(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer(locale="en")
    cookie, field = csrf_of(get_page(transfer.id))
    assert post_choice(transfer.id, {"csrf": field, "emp": NO.id}, [cookie])["statusCode"] == 200
    first = registry.transfers.get(transfer.id)
    again = post_choice(transfer.id, {"csrf": field, "emp": SE.id}, [cookie])
    assert again["statusCode"] == 410
    doc = lxml.html.fromstring(again["body"])
    text = doc.text_content()
    assert "already been used" in text and "Go back to your application and start the import again." in text
    # whom to ask, with the transfer's support code; the error code for support staff
    assert f"quote the support code {support_code(transfer.id)}." in text
    assert doc.xpath("//strong[@class='code']/text()") == [support_code(transfer.id)]
    assert doc.xpath("//code/text()") == ["START_LINK_USED"]
    assert doc.xpath("//a/@href") == [return_link(transfer.return_url, transfer.id, "pending")]
    assert registry.transfers.get(transfer.id) == first  # the first choice stands
    reloaded = get_page(transfer.id)
    assert reloaded["statusCode"] == 410 and "already been used" in reloaded["body"]


def test_expired_start_link(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer(now=1_700_000_000, locale="nl")
    page = get_page(transfer.id)
    assert page["statusCode"] == 410
    assert "verlopen" in page["body"] and "Ga terug naar je aanmelding" in page["body"]
    assert f'noem de supportcode <strong class="code">{support_code(transfer.id)}</strong>' in page["body"]
    cookie = f"{CSRF_COOKIE_SECURE}={'A' * 43}"
    from emrex_emc.core.csrf import CsrfGuard
    from tests.functions.conftest import STATE_KEY_ID, STATE_KEYS

    field = CsrfGuard(STATE_KEYS, STATE_KEY_ID).field_value(transfer.id, "A" * 43)
    refused = post_choice(transfer.id, {"csrf": field, "emp": NO.id}, [cookie])
    assert refused["statusCode"] == 410 and "verlopen" in refused["body"]
    stored = registry.transfers.get(transfer.id)
    assert stored is not None and not stored.start_used


@pytest.mark.parametrize("transfer_id", ["0" * 32, "../../etc", "x"])
def test_unknown_start_link(registry: AwsEnv, transfer_id: str) -> None:
    for response in (get_page(transfer_id), post_choice(transfer_id, {"emp": NO.id})):
        assert response["statusCode"] == 404
        text = lxml.html.fromstring(response["body"]).text_content()
        assert "Go back to your application and start the import again." in text
        # no transfer, so no support code: the error code is what to quote
        assert "quote the error code below" in text and "SESSION_NOT_FOUND" in text
        assert "support code" not in text
        assert response["headers"]["content-security-policy"]


def test_unknown_start_link_in_the_browser_language(registry: AwsEnv) -> None:
    doc = lxml.html.fromstring(get_page("0" * 32, accept_language="de-AT,de;q=0.9,en;q=0.5")["body"])
    assert doc.get("lang") == "de"
    assert doc.xpath("//h1/text()") == ["Dieser Link ist ungültig"]
    assert doc.xpath("//h2/text()") == ["Was Sie tun können"]


def test_completed_transfer_cannot_be_restarted(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    from emrex_emc.core.protocol import Status

    transfer = make_transfer(status=Status.RECEIVED)
    assert get_page(transfer.id)["statusCode"] == 410


# --- CSRF ---------------------------------------------------------------------------------------------


def test_csrf_failures_do_not_consume_the_link(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer, other = make_transfer(), make_transfer()
    cookie, field = csrf_of(get_page(transfer.id))
    other_cookie, other_field = csrf_of(get_page(other.id))
    name = cookie.split("=")[0]
    attempts = [
        ({"emp": NO.id}, [cookie]),  # no field
        ({"csrf": field, "emp": NO.id}, None),  # no cookie
        ({"csrf": field, "emp": NO.id}, [f"{name}={'B' * 43}"]),  # another cookie value
        ({"csrf": other_field, "emp": NO.id}, [cookie]),  # field bound to another transfer
        ({"csrf": field[:-1] + ("0" if field[-1] != "0" else "1"), "emp": NO.id}, [cookie]),
        ({"csrf": "k9." + field.split(".")[1], "emp": NO.id}, [cookie]),  # unknown key id
        ({"csrf": field, "emp": NO.id}, [f"emrex_csrf={cookie.split('=')[1]}"]),  # cookie without __Host-
        ({"csrf": field, "emp": NO.id}, [f"{name}=\ud800{cookie.split('=')[1][1:]}"]),  # a lone surrogate
    ]
    for fields, cookies in attempts:
        response = post_choice(transfer.id, fields, cookies)
        assert response["statusCode"] == 403, fields
        assert "choose again" in response["body"].lower()
        assert f'href="{transfer.id}">Back to the list' in response["body"]  # /start/{id}, relative
    stored = registry.transfers.get(transfer.id)
    assert stored is not None and not stored.start_used
    # and the genuine form still works afterwards
    assert post_choice(transfer.id, {"csrf": field, "emp": NO.id}, [cookie])["statusCode"] == 200
    assert post_choice(other.id, {"csrf": other_field, "emp": NO.id}, [other_cookie])["statusCode"] == 200


def test_form_must_be_urlencoded(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer()
    cookie, field = csrf_of(get_page(transfer.id))
    event = apigw_event(
        "POST",
        f"/start/{transfer.id}",
        route_key="POST /start/{id}",
        path_params={"id": transfer.id},
        headers={"content-type": "application/json"},
        body=f'{{"csrf": "{field}", "emp": "{NO.id}"}}',
        cookies=[cookie],
    )
    assert start.handler(event, LAMBDA_CONTEXT)["statusCode"] == 403


def test_unknown_emp_is_refused_without_consuming(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer()
    cookie, field = csrf_of(get_page(transfer.id))
    response = post_choice(transfer.id, {"csrf": field, "emp": "xx-0000000000"}, [cookie])
    assert response["statusCode"] == 400
    assert lxml.html.fromstring(response["body"]).xpath("//a/@href") == [transfer.id]
    stored = registry.transfers.get(transfer.id)
    assert stored is not None and not stored.start_used


def test_a_choice_reads_the_transfer_once(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    transfer = make_transfer()
    cookie, field = csrf_of(get_page(transfer.id))
    dynamodb = aws_client("dynamodb")
    real, keys = dynamodb.get_item, []

    def counting(**kwargs: Any) -> Any:
        keys.append(kwargs["Key"]["pk"]["S"])
        return real(**kwargs)

    monkeypatch.setattr(dynamodb, "get_item", counting)
    assert post_choice(transfer.id, {"csrf": field, "emp": NO.id}, [cookie])["statusCode"] == 200
    assert [key for key in keys if transfer.id in key] == [f"SESSION#{transfer.id}"]


def test_a_throttled_choice_is_a_503_and_the_link_still_works(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError, ReadTimeoutError

    transfer = make_transfer()
    cookie, field = csrf_of(get_page(transfer.id))
    dynamodb = aws_client("dynamodb")
    real = dynamodb.update_item
    for failure in (
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "UpdateItem"),
        ReadTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"),
    ):

        def failing(*args: Any, failure: Exception = failure, **kwargs: Any) -> Any:
            raise failure

        monkeypatch.setattr(dynamodb, "update_item", failing)
        response = post_choice(transfer.id, {"csrf": field, "emp": NO.id}, [cookie])
        assert response["statusCode"] == 503 and "STORAGE_UNAVAILABLE" in response["body"]
    monkeypatch.setattr(dynamodb, "update_item", real)
    stored = registry.transfers.get(transfer.id)
    assert stored is not None and not stored.start_used
    assert post_choice(transfer.id, {"csrf": field, "emp": NO.id}, [cookie])["statusCode"] == 200


# --- registry problems -----------------------------------------------------------------------------------


def test_stale_registry_gives_503_and_is_logged(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], captured_logs: list[str]
) -> None:
    store_snapshot(aws_env, age=timedelta(days=3))
    transfer = make_transfer()
    response = get_page(transfer.id)
    assert response["statusCode"] == 503
    assert "Temporarily unavailable" in response["body"]
    assert any("REGISTRY_STALE" in line and '"levelname": "ERROR"' in line for line in captured_logs)
    stored = aws_env.transfers.get(transfer.id)
    assert stored is not None and not stored.start_used


def test_missing_registry_gives_503(aws_env: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    assert get_page(make_transfer().id)["statusCode"] == 503


def test_unreadable_registry_item_gives_503_and_is_logged(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], captured_logs: list[str]
) -> None:
    aws_env.dynamodb.put_item(
        TableName=aws_env.table, Item={"pk": {"S": SNAPSHOT_PK}, "format": {"S": "json+gzip"}, "snapshot": {"B": b"x"}}
    )
    response = get_page(make_transfer().id)
    assert response["statusCode"] == 503
    assert any("REGISTRY_INVALID" in line and '"levelname": "ERROR"' in line for line in captured_logs)


def test_the_handler_uses_no_s3_client(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], monkeypatch: pytest.MonkeyPatch
) -> None:
    services: list[str] = []

    def recording_client(service: str) -> Any:
        services.append(service)
        return aws_client(service)

    monkeypatch.setattr(start, "client", recording_client)
    transfer = make_transfer()
    assert choose(transfer.id, NO)["statusCode"] == 200
    assert sorted(set(services)) == ["dynamodb", "secretsmanager"]


def test_empty_registry_says_so(aws_env: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    store_snapshot(aws_env, emps=())
    response = get_page(make_transfer().id)
    assert response["statusCode"] == 200
    assert "No data providers are available" in response["body"]
    assert "if the list stays empty, contact the admissions office" in response["body"]
    assert lxml.html.fromstring(response["body"]).xpath("//form") == []  # nothing to search or choose


def test_routing_is_by_route_key_only(registry: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer()
    path_params = {"id": transfer.id}
    chooser = apigw_event("GET", f"/prod/start/{transfer.id}", route_key="GET /start/{id}", path_params=path_params)
    assert start.handler(chooser, LAMBDA_CONTEXT)["statusCode"] == 200
    for event in (
        apigw_event("GET", f"/start/{transfer.id}"),  # the $default route: the path alone routes nothing
        apigw_event("PUT", f"/start/{transfer.id}", route_key="$default"),
        apigw_event("GET", "/elsewhere", route_key="$default", headers={"accept": "text/html"}),
    ):
        response = start.handler(event, LAMBDA_CONTEXT)
        assert response["statusCode"] == 404
        assert response["headers"]["content-type"].startswith("text/html") and "NOT_FOUND" in response["body"]


def test_favicon_is_an_empty_answer(registry: AwsEnv) -> None:
    response = start.handler(apigw_event("GET", "/favicon.ico", route_key="GET /favicon.ico"), LAMBDA_CONTEXT)
    assert response["statusCode"] == 204 and response["body"] == ""


# --- institutions each EMP covers ---------------------------------------------------------------------------

OSLO = CoveredInstitution("uio.no", (("erasmus", "N  OSLO01"),), (("en", "University of Oslo"),))
BERGEN = CoveredInstitution("uib.no", (("erasmus", "N  BERGEN01"),), (("no", "Universitetet i Bergen"),))
SIKT = replace(_emp("NO", "Sikt", "https://sikt.example.no/emrex"), covered=(OSLO, BERGEN))
GREEK = replace(
    _emp("GR", "eDiplomas", "https://ediplomas.example.gr/emrex"),
    covered=(CoveredInstitution("uoa.gr", (), (("en", "University of Athens"),)),),
)


def test_the_chooser_shows_each_emps_host_and_finds_it_by_a_covered_institution(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    store_snapshot(aws_env, emps=(SIKT, GREEK, SE))
    transfer = make_transfer(locale="en")
    doc = lxml.html.fromstring(get_page(transfer.id)["body"])
    hosts = [span.text_content() for span in doc.xpath("//li/span[contains(@class, 'host')]")]
    assert sorted(hosts) == ["ediplomas.example.gr", "emp.example.se", "sikt.example.no"]
    sikt = doc.xpath("//fieldset[legend='Norway']//li")[0].text_content()
    assert "University of Oslo" in sikt and "Universitetet i Bergen" in sikt  # the covered institutions' names
    assert labels(get_page(transfer.id, query={"q": "Oslo"})) == ["Sikt"]
    assert labels(get_page(transfer.id, query={"q": "bergen"})) == ["Sikt"]
    assert labels(get_page(transfer.id, query={"q": "ediplomas.example"})) == ["eDiplomas"]


def test_choosing_pins_what_the_emp_covers_and_what_others_cover(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    store_snapshot(aws_env, emps=(SIKT, GREEK, SE))
    transfer = make_transfer()
    assert choose(transfer.id, SIKT)["statusCode"] == 200
    stored = aws_env.transfers.get(transfer.id)
    assert stored is not None and stored.pinned_coverage is not None
    assert stored.pinned_coverage == Coverage.of(SIKT, (SIKT, GREEK, SE))
    assert [institution.hei_id for institution in stored.pinned_coverage.covered] == ["uio.no", "uib.no"]
    assert stored.pinned_coverage.elsewhere == {"schac:uoa.gr": "uoa.gr"}
