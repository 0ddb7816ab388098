"""The mock EMP 2.0 checks what a real EMP checks: the authorization request, PKCE and our client assertion
against our EMREG client record (key, iss/sub, aud, lifetime, single use), and it signs its results."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree

from emrex_emc.core.elmo.reader import read_elmo
from emrex_emc.core.emrex2 import CLIENT_ASSERTION_TYPE, code_challenge
from emrex_emc.core.jose import compact_jwt, jwt_signing_input
from emrex_emc.core.jws import verify_detached_jws
from emrex_emc.core.provenance import Coverage, assess_provenance
from emrex_emc.local.catalogue import mock_emp_entry
from emrex_emc.local.elmo_factory import ATHENS, generate_signing_identity
from emrex_emc.local.mock_emp import Learner
from emrex_emc.local.mock_emp2 import (
    AUTHORIZE_PATH,
    DECIDE_PATH,
    MOCK_EMP2_INSTITUTION,
    MockEmp2,
    load_or_create_key,
)
from emrex_emc.web.http import HttpRequest, HttpResponse

CLIENT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
BASE = "https://emp2.example.nl"
RECORD = {
    "clientId": "emc-uni",
    "redirectUri": "https://emc.uni.example/callback",
    "publicKey": CLIENT_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode(),
}
VERIFIER = "v" * 43


@pytest.fixture
def mock() -> MockEmp2:
    return MockEmp2(
        base_url=BASE,
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        client_records=lambda client_id: RECORD if client_id == "emc-uni" else None,
        default_learner=Learner("Kari", "Nordmann", "1998-04-03"),
    )


def form_request(path: str, fields: dict[str, str]) -> HttpRequest:
    return HttpRequest(
        "POST", path, {"content-type": "application/x-www-form-urlencoded"}, body=urlencode(fields).encode()
    )


def code_for(mock: MockEmp2, scenario: str = "ok") -> str:
    fields = {
        "client_id": "emc-uni",
        "redirect_uri": RECORD["redirectUri"],
        "state": "s",
        "code_challenge": code_challenge(VERIFIER),
        "scenario": scenario,
        "given_names": "Kari",
        "family_name": "Nordmann",
        "birth_date": "1998-04-03",
    }
    location = mock.decide(form_request(DECIDE_PATH, fields)).headers["location"]
    return dict(parse_qsl(urlsplit(location).query))["code"]


def assertion(*, key: rsa.RSAPrivateKey = CLIENT_KEY, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "emc-uni",
        "sub": "emc-uni",
        "aud": f"{BASE}/emp2/token",
        "jti": str(time.time_ns()),
        "iat": now,
        "exp": now + 300,
    }
    claims.update(changes)
    signing_input = jwt_signing_input({"alg": "RS256", "kid": "k"}, claims)
    return compact_jwt(signing_input, key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))


def token(mock: MockEmp2, code: str, *, verifier: str = VERIFIER, client_assertion: str | None = None) -> HttpResponse:
    return mock.token(
        form_request(
            "/emp2/token",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": RECORD["redirectUri"],
                "code_verifier": verifier,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": client_assertion or assertion(),
            },
        )
    )


def error_of(response: HttpResponse) -> str:
    return str(json.loads(response.body)["error"])


def results_of(mock: MockEmp2, scenario: str = "ok") -> HttpResponse:
    response = token(mock, code_for(mock, scenario))
    assert response.status == 200
    access = json.loads(response.body)["access_token"]
    return mock.results(
        HttpRequest(
            "GET",
            "/emp2/results",
            {"authorization": f"Bearer {access}"},
            query={"data_format": "elmo", "data_format_version": "2.1"},
        )
    )


def test_a_conforming_client_gets_a_token_and_signed_results(mock: MockEmp2) -> None:
    results = results_of(mock)
    assert results.status == 200 and isinstance(results.body, bytes)
    verify_detached_jws(results.headers["x-signature"], results.body, mock.registry_entry().public_key)


@pytest.mark.parametrize(
    ("scenario", "issuer", "verdict"),
    [
        ("ok", MOCK_EMP2_INSTITUTION, "same_country"),
        ("issuer-not-covered", ATHENS.name, "not_covered"),
    ],
)
def test_the_results_come_from_the_institution_emreg_lists_for_the_mock_unless_told_otherwise(
    mock: MockEmp2, scenario: str, issuer: str, verdict: str
) -> None:
    """Judged within the local registry: both mock EMPs (the EMREX 1 one covers Voorbeeld and Athens)."""
    results = results_of(mock, scenario)
    assert isinstance(results.body, bytes)
    [report] = read_elmo(etree.fromstring(results.body)).reports
    assert report.issuer.titles[0].value == issuer
    emp = mock.registry_entry()
    registry = [mock_emp_entry("http://127.0.0.1:1/emp", generate_signing_identity("EMREX 1").cert_der), emp]
    assert assess_provenance([report.issuer], Coverage.of(emp, registry)).verdict == verdict


@pytest.mark.parametrize(
    "bad",
    [
        {"key": OTHER_KEY},
        {"aud": "https://other.example/token"},
        {"sub": "someone-else"},
        {"iss": "unknown-client", "sub": "unknown-client"},
        {"exp": int(time.time()) - 10},
        {"exp": int(time.time()) + 3600},
    ],
)
def test_a_bad_client_assertion_is_invalid_client(mock: MockEmp2, bad: dict[str, Any]) -> None:
    response = token(mock, code_for(mock), client_assertion=assertion(**bad))
    assert response.status == 401 and error_of(response) == "invalid_client"


def test_an_assertion_is_accepted_once(mock: MockEmp2) -> None:
    reused = assertion()
    assert token(mock, code_for(mock), client_assertion=reused).status == 200
    assert error_of(token(mock, code_for(mock), client_assertion=reused)) == "invalid_client"


def test_pkce_and_single_use_codes(mock: MockEmp2) -> None:
    assert error_of(token(mock, code_for(mock), verifier="w" * 43)) == "invalid_grant"
    code = code_for(mock)
    assert token(mock, code).status == 200
    assert error_of(token(mock, code)) == "invalid_grant"


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "unknown"},
        {"redirect_uri": "https://attacker.example/callback"},
        {"code_challenge_method": "plain"},
        {"response_type": "token"},
    ],
)
def test_the_authorization_request_is_checked_before_anything_is_shown(mock: MockEmp2, change: dict[str, str]) -> None:
    query = {
        "response_type": "code",
        "client_id": "emc-uni",
        "redirect_uri": RECORD["redirectUri"],
        "state": "s",
        "code_challenge": code_challenge(VERIFIER),
        "code_challenge_method": "S256",
        **change,
    }
    response = mock.authorize(HttpRequest("GET", AUTHORIZE_PATH, query=query))
    assert response.status == 400 and "location" not in response.headers


def test_the_key_is_kept_across_restarts(tmp_path: Any) -> None:
    first = load_or_create_key(tmp_path).public_key().public_numbers()
    assert load_or_create_key(tmp_path).public_key().public_numbers() == first
