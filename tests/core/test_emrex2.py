"""EMREX 2.0 on the EMC's side (core): PKCE, the authorization request, the assertion, the EMP's answers."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from emrex_emc.core.emrex2 import (
    CLIENT_ASSERTION_TYPE,
    MAX_FLOW_COOKIE_CHARS,
    MAX_FLOW_COOKIES,
    ClientIdentity,
    EmpRedirect,
    EmpSaidNo,
    FlowCookies,
    HttpAnswer,
    access_token,
    authorization_url,
    client_assertion_input,
    code_challenge,
    flow_cookie_hash,
    flow_cookie_suffix,
    issuer_matches,
    new_code_verifier,
    redirect_error,
    results_problem,
    results_url,
    token_request_form,
)
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.registry import Emrex2Endpoints
from emrex_emc.core.text import is_clean

NO_COOKIES = FlowCookies.of([])
ENDPOINTS = Emrex2Endpoints(
    "https://emp.example.nl/oauth2/authorize?tenant=nl&state=theirs",
    "https://emp.example.nl/oauth2/token",
    "https://emp.example.nl/results?x=1",
)
CLIENT = ClientIdentity("emc-nl-uva", "https://emc.uva.example/callback", "UvA", "NL")


def test_pkce_s256_is_base64url_of_the_sha256_of_the_ascii_verifier() -> None:
    verifier = "dBjftJeZ4CVP-mJ92K8D4sTrxZ-U0Nq8tB1H1a7t7rw"
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    assert code_challenge(verifier) == expected and len(expected) == 43
    verifiers = {new_code_verifier() for _ in range(50)}
    assert len(verifiers) == 50 and all(len(v) == 43 and "=" not in v for v in verifiers)


def test_the_authorization_request_keeps_the_endpoint_query_and_carries_our_parameters() -> None:
    url = authorization_url(ENDPOINTS, CLIENT, "k1.abc.def", "v" * 43)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "emp.example.nl", "/oauth2/authorize")
    assert parse_qsl(parts.query) == [
        ("tenant", "nl"),
        ("response_type", "code"),
        ("client_id", "emc-nl-uva"),
        ("redirect_uri", "https://emc.uva.example/callback"),
        ("state", "k1.abc.def"),  # ours replaces any state already in the endpoint URL
        ("code_challenge", code_challenge("v" * 43)),
        ("code_challenge_method", "S256"),
    ]


def test_the_client_assertion_claims() -> None:
    signing_input = client_assertion_input(client_id="emc-nl-uva", token_url=ENDPOINTS.token_url, key_id="k2", now=1000)
    header, claims = (json.loads(base64.urlsafe_b64decode(p + "==")) for p in signing_input.decode().split("."))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "k2"}
    assert claims["iss"] == claims["sub"] == "emc-nl-uva" and claims["aud"] == ENDPOINTS.token_url
    assert claims["iat"] == 1000 and 1000 < claims["exp"] <= 1000 + 300
    other = client_assertion_input(client_id="emc-nl-uva", token_url=ENDPOINTS.token_url, key_id="k2", now=1000)
    assert json.loads(base64.urlsafe_b64decode(other.decode().split(".")[1] + "=="))["jti"] != claims["jti"]


def test_the_token_request_form_and_results_url() -> None:
    form = token_request_form(code="c", redirect_uri=CLIENT.redirect_uri, verifier="v", assertion="a.b.c")
    assert form == {
        "grant_type": "authorization_code",
        "code": "c",
        "redirect_uri": "https://emc.uva.example/callback",
        "code_verifier": "v",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": "a.b.c",
    }
    assert results_url(ENDPOINTS) == "https://emp.example.nl/results?x=1&data_format=elmo&data_format_version=2.1"


@pytest.mark.parametrize(
    ("issuer", "ok"),
    [
        ("https://emp.example.nl", True),
        ("https://emp.example.nl/", True),
        ("https://EMP.example.nl:443/oauth2", True),
        ("https://emp.example.nl:8443", False),
        ("http://emp.example.nl", False),
        ("https://attacker.example", False),
        ("https://emp.example.nl?x=1", False),
        ("https://emp.example.nl#f", False),
        ("https://[::1", False),
        ("", False),
    ],
)
def test_the_issuer_must_be_the_emps_origin(issuer: str, ok: bool) -> None:
    assert issuer_matches(ENDPOINTS, issuer) is ok


def test_the_redirect_back_is_code_or_error() -> None:
    cookies = FlowCookies.of([("0123456789ab", "cookie")])
    redirect = EmpRedirect.of({"state": "s", "code": "abc", "iss": "https://emp"}, cookies)
    assert (redirect.code, redirect.error, redirect.issuer, redirect.flow_cookies) == (
        "abc",
        None,
        "https://emp",
        cookies,
    )
    assert "abc" not in repr(redirect)
    for query in ({"state": "s"}, {"state": "s", "code": "a", "error": "access_denied"}, {"code": "a b"}):
        with pytest.raises(EmrexError) as caught:
            EmpRedirect.of(query, NO_COOKIES)
        assert caught.value.code is ErrorCode.OAUTH_RESPONSE_INVALID
    with pytest.raises(EmrexError):
        EmpRedirect.of({"state": "s", "code": "x" * 3000}, NO_COOKIES)


def test_error_redirects_are_bounded() -> None:
    said = redirect_error(
        EmpRedirect.of({"state": "s", "error": "access_denied", "error_description": "no"}, NO_COOKIES)
    )
    assert (said.error, said.description) == ("access_denied", "no")
    hostile = redirect_error(
        EmpRedirect.of({"state": "s", "error": 'bad\x1b[2J"', "error_description": "\r\nx" * 900}, NO_COOKIES)
    )
    assert hostile.error == "server_error" and len(hostile.description) <= 500 and is_clean(hostile.description)


def test_token_responses() -> None:
    ok = HttpAnswer(200, b'{"access_token":"AT-1","token_type":"bearer","expires_in":300}')
    assert access_token(ok) == "AT-1"
    cases = [
        (HttpAnswer(400, b'{"error":"invalid_grant","error_description":"code expired"}'), "invalid_grant"),
        (HttpAnswer(401, b'{"error":"invalid_client"}'), "invalid_client"),
        (HttpAnswer(500, b"<html>oops</html>"), "server_error"),
        (HttpAnswer(200, b"not json"), "server_error"),
        (HttpAnswer(200, b"[]"), "server_error"),
        (HttpAnswer(200, b'{"token_type":"Bearer"}'), "server_error"),
        (HttpAnswer(200, b'{"access_token":"AT","token_type":"DPoP"}'), "server_error"),
        (HttpAnswer(200, b'{"access_token":"A T","token_type":"Bearer"}'), "server_error"),
        (HttpAnswer(400, b'{"error":"\\u001b[31m"}'), "server_error"),
        (HttpAnswer(200, b"[" * 30_000 + b"]" * 30_000), "server_error"),  # deeper than the JSON parser's stack
        (HttpAnswer(400, b"[" * 30_000 + b"]" * 30_000), "server_error"),
    ]
    for answer, error in cases:
        with pytest.raises(EmpSaidNo) as caught:
            access_token(answer)
        assert caught.value.error == error and is_clean(caught.value.description)


def test_results_answers() -> None:
    assert results_problem(HttpAnswer(200, b"<elmo/>")) is None
    assert results_problem(HttpAnswer(204)) is None
    problem = results_problem(HttpAnswer(401, b'{"error":"invalid_token","error_description":"token expired"}'))
    assert problem is not None and (problem.error, problem.description) == ("invalid_token", "token expired")
    redirected = results_problem(HttpAnswer(302))
    assert redirected is not None and redirected.error == "server_error" and "302" in redirected.description


def test_an_unreachable_emp_is_named_with_an_oauth_error() -> None:
    assert EmpSaidNo.of(EmrexError(ErrorCode.EMP_UNAVAILABLE, "timed out")).error == "temporarily_unavailable"
    assert EmpSaidNo.of(EmrexError(ErrorCode.EMP_RESPONSE_INVALID, "too large")).error == "server_error"


def test_the_flow_cookie_of_a_transfer_is_found_by_its_suffix() -> None:
    transfer_a, transfer_b = "0123456789ab" + "0" * 20, "ba9876543210" + "0" * 20
    cookies = FlowCookies.of([(flow_cookie_suffix(transfer_a), "A"), (flow_cookie_suffix(transfer_b), "B")])
    assert (cookies.for_transfer(transfer_a), cookies.for_transfer(transfer_b)) == ("A", "B")
    assert cookies.for_transfer("f" * 32) is None


def test_flow_cookies_are_bounded_and_malformed_ones_ignored() -> None:
    malformed = [("", "v"), ("0123456789AB", "v"), ("0123456789abc", "v"), ("x" * 5000, "v"), ("0123456789ab", "")]
    too_long = ("0123456789ab", "v" * (MAX_FLOW_COOKIE_CHARS + 1))
    cookies = FlowCookies.of([*malformed, too_long])
    assert cookies.by_suffix == {}
    many = FlowCookies.of((f"{n:012x}", "v") for n in range(10**9))  # read lazily: stops at the bound
    assert len(many.by_suffix) == MAX_FLOW_COOKIES
    first = FlowCookies.of([("0123456789ab", "first"), ("0123456789ab", "second")])
    assert first.for_transfer("0123456789ab" + "0" * 20) == "first"  # as HttpRequest keeps a repeated cookie


def test_the_flow_cookie_hash_is_url_safe() -> None:
    digest = flow_cookie_hash("cookie-value")
    assert len(digest) == 43 and digest != flow_cookie_hash("cookie-valuf")
