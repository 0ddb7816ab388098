import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from emrex_emc.core.errors import EmrexError
from emrex_emc.core.evidence import StoredObjects
from emrex_emc.core.identity import FieldMatch, IdentityResult
from emrex_emc.core.outcome import ErrorInfo, Outcome, ResultSummary
from emrex_emc.core.protocol import Status
from emrex_emc.core.return_urls import return_url_allowed
from emrex_emc.core.transfer import EnrolmentRequest
from emrex_emc.settings import Settings
from emrex_emc.web.enrolment import enrolment_request
from emrex_emc.web.http import HttpRequest
from emrex_emc.web.i18n import SUPPORTED_LANGUAGES
from enrolment_api import handler as enrolment
from tests.functions.conftest import ALLOWED_RETURN_URLS, API_TOKEN, AwsEnv, apigw_event, rewired
from tests.lambda_context import LAMBDA_CONTEXT

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

VALID = {
    "applicant_id": "S-2027-0042",
    "given_names": "Joost Pieter",
    "family_name": "van den Berg-Ödegaard",
    "birth_date": "1999-02-28",
    "return_url": "https://uni.example/enrol/step3?app=42",
    "locale": "nl",
}
SETTINGS = Settings.from_env(
    {
        **{n: "x" for n in ("EMREX_TABLE_NAME", "EMREX_BUCKET_NAME", "EMREX_EVENT_BUS_NAME", "EMREX_SECRET_NAME")},
        "EMREX_ALLOWED_RETURN_URLS": ALLOWED_RETURN_URLS,
    }
)
AUTH = {"authorization": f"Bearer {API_TOKEN}", "content-type": "application/json"}


def parse_enrolment(body: Any, *, settings: Settings, today: date) -> EnrolmentRequest:
    request = HttpRequest("POST", "/sessions", {"content-type": "application/json"}, body=json.dumps(body).encode())
    return enrolment_request(
        request, allowed_return_urls=settings.allowed_return_urls, local_mode=settings.local_mode, today=today
    )


fresh_handler = rewired(enrolment)


def post(body: Any, headers: dict[str, str] | None = None, *, raw: str | None = None) -> dict[str, Any]:
    event = apigw_event(
        "POST",
        "/sessions",
        route_key="POST /sessions",
        headers=AUTH if headers is None else headers,
        body=raw if raw is not None else json.dumps(body),
    )
    return enrolment.handler(event, LAMBDA_CONTEXT)


def get(transfer_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = apigw_event(
        "GET",
        f"/sessions/{transfer_id}",
        route_key="GET /sessions/{id}",
        path_params={"id": transfer_id},
        headers=AUTH if headers is None else headers,
    )
    return enrolment.handler(event, LAMBDA_CONTEXT)


def stored_count(aws_env: AwsEnv) -> int:
    return int(aws_env.dynamodb.scan(TableName=aws_env.table, Select="COUNT")["Count"])


def error_of(response: dict[str, Any]) -> dict[str, str]:
    return json.loads(response["body"])["error"]


# --- auth ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json"},
        {"authorization": "Bearer wrong-token-0123456789abcdef", "content-type": "application/json"},
        {"authorization": f"Basic {API_TOKEN}", "content-type": "application/json"},
        {"authorization": f"Bearer {API_TOKEN}x", "content-type": "application/json"},
        {"authorization": "Bearer ", "content-type": "application/json"},
        {"authorization": "Bearer \ud800", "content-type": "application/json"},  # a lone surrogate (500 before)
    ],
)
def test_create_requires_the_bearer_token(aws_env: AwsEnv, headers: dict[str, str]) -> None:
    response = post(VALID, headers)
    assert response["statusCode"] == 401
    assert response["headers"]["www-authenticate"].startswith("Bearer")
    assert error_of(response)["code"] == "UNAUTHORIZED"
    assert stored_count(aws_env) == 0


def test_status_requires_the_bearer_token(make_transfer: Callable[..., Any]) -> None:
    transfer = make_transfer()
    response = get(transfer.id, {"authorization": "Bearer nope"})
    assert response["statusCode"] == 401
    assert "applicant_id" not in response["body"]


# --- create ---------------------------------------------------------------------------------------------


def test_create_returns_201_and_stores_the_transfer(aws_env: AwsEnv) -> None:
    response = post(VALID)
    assert response["statusCode"] == 201
    body = json.loads(response["body"])
    assert set(body) == {"id", "start_url", "expires_at"}
    assert len(body["id"]) == 32 and int(body["id"], 16) >= 0
    assert body["start_url"] == f"https://emc.example/start/{body['id']}"
    stored = aws_env.transfers.get(body["id"])
    assert stored is not None
    assert (stored.applicant_id, stored.given_names, stored.family_name) == (
        "S-2027-0042",
        "Joost Pieter",
        "van den Berg-Ödegaard",
    )
    assert stored.birth_date == "1999-02-28" and stored.locale == "nl"
    assert stored.return_url == VALID["return_url"]
    assert stored.status is Status.PENDING and stored.start_used is False
    created = datetime.fromisoformat(stored.created_at)
    assert stored.deadline == int(created.timestamp()) + 1800
    assert stored.expires_at == stored.deadline + 86400
    assert datetime.fromisoformat(body["expires_at"]) == datetime.fromtimestamp(stored.deadline, UTC)


def test_each_create_is_a_new_transfer(aws_env: AwsEnv) -> None:
    ids = {json.loads(post(VALID)["body"])["id"] for _ in range(3)}
    assert len(ids) == 3 and stored_count(aws_env) == 3


def test_start_url_uses_the_request_base_when_no_public_url(aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMREX_PUBLIC_BASE_URL", "")
    enrolment.reset()
    body = json.loads(post(VALID)["body"])
    assert body["start_url"] == f"https://api.example/start/{body['id']}"


def test_locale_is_optional_and_normalised(aws_env: AwsEnv) -> None:
    without = json.loads(post({k: v for k, v in VALID.items() if k != "locale"})["body"])
    with_region = json.loads(post({**VALID, "locale": "EN-gb"})["body"])
    assert aws_env.transfers.get(without["id"]).locale == ""  # type: ignore[union-attr]
    assert aws_env.transfers.get(with_region["id"]).locale == "en"  # type: ignore[union-attr]


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_official_eu_language_is_a_locale_with_or_without_a_region(language: str) -> None:
    for locale in (language, f"{language}-{language.upper()}", f"{language.upper()}_IE", f"{language}-Latn-x-demo"):
        parsed = parse_enrolment({**VALID, "locale": locale}, settings=SETTINGS, today=date.today())
        assert parsed.locale == language, locale


def test_personal_data_is_not_logged(aws_env: AwsEnv, captured_logs: list[str]) -> None:
    post(VALID)
    post({**VALID, "birth_date": "2999-01-01"})
    post(VALID, {"authorization": "Bearer wrong-token", "content-type": "application/json"})
    assert any("VALIDATION_FAILED" in line for line in captured_logs)
    assert any("UNAUTHORIZED" in line for line in captured_logs)
    output = "\n".join(captured_logs)
    for value in ("Joost", "Berg", "1999-02-28", "S-2027-0042", "2999-01-01", "wrong-token", API_TOKEN):
        assert value not in output


TOMORROW = (date.today() + timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"applicant_id": None}, "applicant_id", "required"),
        ({"applicant_id": ""}, "applicant_id", "empty"),
        ({"applicant_id": 42}, "applicant_id", "string"),
        ({"applicant_id": "a b"}, "applicant_id", "letters"),
        ({"applicant_id": "x" * 129}, "applicant_id", "128"),
        ({"given_names": None}, "given_names", "required"),
        ({"given_names": "A\u0000B"}, "given_names", "control"),
        ({"given_names": "x" * 201}, "given_names", "200"),
        ({"family_name": "   "}, "family_name", "empty"),
        ({"family_name": ["x"]}, "family_name", "string"),
        ({"birth_date": None}, "birth_date", "required"),
        ({"birth_date": "28-02-1999"}, "birth_date", "YYYY-MM-DD"),
        ({"birth_date": "1999-2-28"}, "birth_date", "YYYY-MM-DD"),
        ({"birth_date": "1999-02-30"}, "birth_date", "real calendar date"),
        ({"birth_date": "1999-13-01"}, "birth_date", "real calendar date"),
        ({"birth_date": TOMORROW}, "birth_date", "future"),
        ({"birth_date": "1850-01-01"}, "birth_date", "1900"),
        ({"birth_date": "1999-02-28T00:00:00"}, "birth_date", "at most"),
        ({"return_url": None}, "return_url", "required"),
        ({"return_url": "not a url"}, "return_url", "allow-list"),
        ({"locale": "nb"}, "locale", "official EU languages"),
        ({"locale": "ja-JP"}, "locale", "'bg', 'cs', 'da'"),
        ({"locale": "nl NL"}, "locale", "official EU languages"),
        ({"locale": "x-nl"}, "locale", "official EU languages"),
        ({"locale": 7}, "locale", "string"),
        ({"nickname": "JJ"}, "nickname", "unknown field"),
    ],
)
def test_invalid_fields_are_refused_precisely(change: dict[str, Any], field: str, fragment: str) -> None:
    body = {**VALID, **change}
    if change.get(field, "") is None:
        del body[field]
    with pytest.raises(EmrexError) as info:
        parse_enrolment(body, settings=SETTINGS, today=date.today())
    assert info.value.field == field
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("change", "field"),
    [({"applicant_id": None}, "applicant_id"), ({"birth_date": TOMORROW}, "birth_date"), ({"locale": "tr"}, "locale")],
)
def test_invalid_fields_get_a_precise_400_and_nothing_is_stored(
    aws_env: AwsEnv, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    response = post(body)
    assert response["statusCode"] == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_FAILED"
    assert error["field"] == field and error["message"].startswith(field)
    assert stored_count(aws_env) == 0


@pytest.mark.parametrize(
    ("raw", "headers", "status"),
    [
        ("[1, 2]", AUTH, 400),
        ("{not json", AUTH, 400),
        ("\xff", AUTH, 400),
        (json.dumps(VALID), {**AUTH, "content-type": "text/plain"}, 415),
        (json.dumps(VALID), {"authorization": AUTH["authorization"]}, 415),
        (json.dumps(VALID), {**AUTH, "content-type": "application/x-www-form-urlencoded"}, 415),
        (json.dumps({**VALID, "given_names": "x" * 17000}), AUTH, 413),
    ],
)
def test_bad_bodies(aws_env: AwsEnv, raw: str, headers: dict[str, str], status: int) -> None:
    assert post(None, headers, raw=raw)["statusCode"] == status


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("[" * 8000 + "]" * 8000, "body"),  # RecursionError in the JSON parser
        ('{"a":' * 2000 + "1" + "}" * 2000, "body"),
        (json.dumps(VALID).replace('"Joost Pieter"', r'"Joost\ud800"'), "given_names"),  # an escaped lone surrogate
        (json.dumps(VALID).replace('"van den Berg-\\u00d6degaard"', r'"\udfff"'), "family_name"),
        (json.dumps(VALID).replace('"Joost Pieter"', '"Joost\ud800"'), "body"),  # a raw one: not UTF-8
    ],
    ids=["nested-arrays", "nested-objects", "escaped-high-surrogate", "escaped-low-surrogate", "raw-surrogate"],
)
def test_hostile_json_is_a_precise_400_with_the_documented_shape(aws_env: AwsEnv, raw: str, field: str) -> None:
    response = post(None, raw=raw)
    assert response["statusCode"] == 400
    error = error_of(response)
    assert set(error) == {"code", "message", "field"} and error["code"] == "VALIDATION_FAILED"
    assert error["field"] == field and len(error["message"]) < 200
    assert stored_count(aws_env) == 0


def test_an_undecodable_base64_body_is_a_400(aws_env: AwsEnv) -> None:
    event = apigw_event("POST", "/sessions", route_key="POST /sessions", headers=AUTH, body="!!!not base64")
    event["isBase64Encoded"] = True
    response = enrolment.handler(event, LAMBDA_CONTEXT)
    assert response["statusCode"] == 400 and error_of(response)["code"] == "FORM_INVALID"
    assert stored_count(aws_env) == 0


def test_json_with_charset_is_accepted(aws_env: AwsEnv) -> None:
    assert post(VALID, {**AUTH, "content-type": "application/json; charset=utf-8"})["statusCode"] == 201


# --- return URL allow-list ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://uni.example/enrol/",
        "https://uni.example/enrol/step3?x=1#top",
        "https://UNI.example:443/enrol/x",
        "https://apply.uni.example",
        "https://apply.uni.example/any/path",
    ],
)
def test_allowed_return_urls(url: str) -> None:
    assert return_url_allowed(url, SETTINGS.allowed_return_urls, local_mode=False)


def test_allowed_return_url_is_stored(aws_env: AwsEnv) -> None:
    response = post({**VALID, "return_url": "https://apply.uni.example/x"})
    assert response["statusCode"] == 201
    stored = aws_env.transfers.get(json.loads(response["body"])["id"])
    assert stored is not None and stored.return_url == "https://apply.uni.example/x"


@pytest.mark.parametrize(
    "url",
    [
        "https://uni.example.evil.com/enrol/",
        "https://evil.com/https://uni.example/enrol/",
        "https://uni.example@evil.com/enrol/",
        "https://user:pw@uni.example/enrol/",
        "https://uni.example/enrolment",
        "https://uni.example/",
        "https://uni.example/enrol/../admin",
        "https://uni.example/enrol/%2e%2e/admin",
        "https://uni.example:8443/enrol/",
        "http://uni.example/enrol/",
        "https://uni.example\\@evil.com/enrol/",
        "//uni.example/enrol/",
        "javascript:alert(1)//uni.example/enrol/",
        "https://apply.uni.example.:443/",
        "https://xapply.uni.example/",
        "https://uni.example:99999/enrol/",
        "http://127.0.0.1:8080/enrol/",
        "http://localhost/enrol/",
        # on the allowed host and path, but read differently by some browser or server
        "https://uni.example/enrol/%2e%2e/%2e%2e/admin",
        "https://uni.example/enrol/%2E./admin",
        "https://uni.example/enrol/.%2e/admin",
        "https://uni.example/enrol/%2fadmin",
        "https://uni.example/enrol/x%2F..%2F..%2Fadmin",
        "https://uni.example/enrol/%5c..%5cadmin",
        "https://uni.example/enrol/..;/admin",
        "https://uni.example/enrol/;jsessionid=x/../../admin",
        "https://uni.example/enrol/\uff0e\uff0e/admin",  # fullwidth dots
        "https://uni.example/enrol/\u2024\u2024/admin",  # one-dot leaders
        "https://uni.example/enrol/\u3002/done",
        "https://uni.example/enrol/done\u0000",
        "https://uni.exam\u0440le/enrol/",  # Cyrillic look-alike in the host
    ],
)
def test_refused_return_urls(url: str) -> None:
    assert not return_url_allowed(url, SETTINGS.allowed_return_urls, local_mode=False)


@pytest.mark.parametrize("url", ["https://uni.example.evil.com/enrol/", "http://127.0.0.1:8080/enrol/"])
def test_refused_return_url_gets_a_400_and_nothing_is_stored(aws_env: AwsEnv, url: str) -> None:
    response = post({**VALID, "return_url": url})
    assert response["statusCode"] == 400
    assert error_of(response)["code"] == "RETURN_URL_NOT_ALLOWED"
    assert error_of(response)["field"] == "return_url"
    assert "EMREX_ALLOWED_RETURN_URLS" in error_of(response)["message"]  # says what an operator changes
    assert url not in error_of(response)["message"]
    assert stored_count(aws_env) == 0


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/enrol/", True),
        ("http://localhost:3000/x", True),
        ("http://[::1]:9000/", True),
        ("https://localhost/x", True),
        ("http://127.0.0.1.evil.com/", False),
        ("http://localhost.evil.com/", False),
        ("http://10.0.0.1/", False),
        ("https://uni.example.evil.com/enrol/", False),
    ],
)
def test_loopback_only_in_local_mode(url: str, allowed: bool) -> None:
    assert return_url_allowed(url, SETTINGS.allowed_return_urls, local_mode=True) is allowed
    if url.startswith(("http://127", "http://localhost:", "http://[")):
        assert not return_url_allowed(url, SETTINGS.allowed_return_urls, local_mode=False)


def test_local_mode_setting_reaches_the_api(aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    loopback = {**VALID, "return_url": "http://127.0.0.1:8080/enrol/"}
    assert post(loopback)["statusCode"] == 400
    monkeypatch.setenv("EMREX_LOCAL_MODE", "true")
    enrolment.reset()
    assert post(loopback)["statusCode"] == 201


def test_prefix_without_trailing_slash_matches_whole_segments() -> None:
    allowed = ["https://uni.example/enrol"]
    assert return_url_allowed("https://uni.example/enrol", allowed, local_mode=False)
    assert return_url_allowed("https://uni.example/enrol/done", allowed, local_mode=False)
    assert not return_url_allowed("https://uni.example/enrolment", allowed, local_mode=False)
    assert not return_url_allowed("https://uni.example/enrol", [], local_mode=False)


# --- status ---------------------------------------------------------------------------------------------


def test_status_of_a_new_transfer(aws_env: AwsEnv) -> None:
    created = json.loads(post(VALID)["body"])
    response = get(created["id"])
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body == {
        "id": created["id"],
        "status": "pending",
        "applicant_id": "S-2027-0042",
        "emp": None,
        "created_at": body["created_at"],
        "expires_at": created["expires_at"],
        "outcome": None,
    }
    assert "family_name" not in body and "birth_date" not in body


def test_status_of_an_expired_transfer(make_transfer: Callable[..., Any]) -> None:
    transfer = make_transfer(now=1_700_000_000)
    assert json.loads(get(transfer.id)["body"])["status"] == "expired"


def test_status_shows_the_emp_and_the_public_part_of_the_outcome(make_transfer: Callable[..., Any]) -> None:
    summary = ResultSummary(issuers=(), course_count=12, total_ects="37.5", report_count=1, attachment_count=0)
    identity = IdentityResult("MATCH", (FieldMatch("family_name", "MATCH", "same"),))
    stored = StoredObjects("b", "transfers/x/payload.txt", "ab" * 32, "transfers/x/results.json")
    outcome = Outcome(
        Status.RECEIVED,
        "2027-01-15T08:10:00Z",
        "NCP_OK",
        "ab" * 32,
        "e" * 32,
        summary=summary,
        identity=identity,
        s3=stored,
    )
    transfer = make_transfer(chosen=True, status=Status.RECEIVED, outcome=outcome)
    body = json.loads(get(transfer.id)["body"])
    assert body["status"] == "received"
    assert body["emp"]["country"] == "NO" and body["emp"]["id"] == transfer.emp.id
    assert body["outcome"] == {
        "at": "2027-01-15T08:10:00Z",
        "status": "received",
        "return_code": "NCP_OK",
        "summary": summary.to_json(),
        "identity": "MATCH",
        "s3": stored.to_item(),
        "warnings": [],
    }


def test_status_shows_the_error_code_of_a_rejection(make_transfer: Callable[..., Any]) -> None:
    outcome = Outcome(Status.REJECTED, "x", "NCP_OK", "0" * 64, "e", error=ErrorInfo("SIGNATURE_INVALID", "m"))
    transfer = make_transfer(chosen=True, status=Status.REJECTED, outcome=outcome)
    body = json.loads(get(transfer.id)["body"])
    assert body["status"] == "rejected" and body["outcome"]["error"] == "SIGNATURE_INVALID"


@pytest.mark.parametrize("transfer_id", ["0" * 32, "not-an-id", "A" * 32, "0" * 33])
def test_status_of_unknown_ids_is_404(aws_env: AwsEnv, transfer_id: str) -> None:
    response = get(transfer_id)
    assert response["statusCode"] == 404
    assert error_of(response)["code"] == "NOT_FOUND"


def test_routing_is_by_route_key_only(aws_env: AwsEnv) -> None:
    created = enrolment.handler(
        apigw_event("POST", "/prod/sessions", route_key="POST /sessions", headers=AUTH, body=json.dumps(VALID)),
        LAMBDA_CONTEXT,
    )
    assert created["statusCode"] == 201
    transfer_id = json.loads(created["body"])["id"]
    for event in (
        apigw_event("GET", f"/prod/sessions/{transfer_id}", headers=AUTH),  # $default: the path routes nothing
        apigw_event("DELETE", f"/sessions/{transfer_id}", route_key="$default", headers=AUTH),
    ):
        response = enrolment.handler(event, LAMBDA_CONTEXT)
        assert response["statusCode"] == 404 and error_of(response)["code"] == "NOT_FOUND"
