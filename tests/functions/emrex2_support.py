"""EMREX 2.0 around the real callback handler: the mock EMP 2.0 reached in-process (no sockets), a transfer
chosen for it as POST /start does, its authorization answered as a browser would, and the redirect back."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from callback import handler as callback_handler
from emrex_emc.core.emrex2 import HttpAnswer, code_challenge, flow_cookie_hash, new_code_verifier, new_flow_cookie
from emrex_emc.core.errors import EmrexError
from emrex_emc.core.protocol import ProtocolVersion, new_session_id
from emrex_emc.core.registry import Emp
from emrex_emc.core.state import StateClaims
from emrex_emc.core.transfer import Transfer
from emrex_emc.local.mock_emp import Learner
from emrex_emc.local.mock_emp2 import DECIDE_PATH, MockEmp2
from emrex_emc.web.http import HttpRequest
from tests.functions.conftest import CLIENT_ID, AwsEnv, ClientKeyEnv, new_transfer
from tests.lambda_context import LAMBDA_CONTEXT

EMP2_BASE = "https://emp2.example.nl"
EMC_BASE = "https://emc.example"
REDIRECT_URI = f"{EMC_BASE}/callback"
FLOW_COOKIE_PREFIX = "__Host-emrex_flow_"
EMP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KARI = Learner("Kari", "Nordmann", "1998-04-03")


def client_record(key: ClientKeyEnv) -> dict[str, str]:
    """Our EMREG client record, as EMREG would give it to the EMP (what /.well-known/emreg-client.json says)."""
    pem = load_der_public_key(key.public_key).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return {"clientId": CLIENT_ID, "redirectUri": REDIRECT_URI, "publicKey": pem.decode()}


@dataclass
class InProcessEmp:
    """``EmpEndpoints`` that call the mock EMP's handlers directly: the real requests and answers, no sockets.

    ``override`` replaces an answer (or raises) per endpoint to play an EMP that misbehaves.
    """

    mock: MockEmp2
    calls: list[str] = field(default_factory=list)
    override: dict[str, Callable[[HttpAnswer], HttpAnswer]] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    """Every credential that crossed: codes, verifiers, assertions, access tokens (must never be logged)."""

    def token(self, url: str, form: Mapping[str, str], *, deadline: float) -> HttpAnswer:
        self.calls.append("token")
        self.secrets += [form["code"], form["code_verifier"], form["client_assertion"]]
        request = HttpRequest(
            "POST",
            urlsplit(url).path,
            {"content-type": "application/x-www-form-urlencoded"},
            body=urlencode(form).encode(),
        )
        return self._answer("token", self.mock.token(request))

    def results(self, url: str, access_token: str, *, deadline: float) -> HttpAnswer:
        self.calls.append("results")
        self.secrets.append(access_token)
        parts = urlsplit(url)
        request = HttpRequest(
            "GET", parts.path, {"authorization": f"Bearer {access_token}"}, query=dict(parse_qsl(parts.query))
        )
        return self._answer("results", self.mock.results(request))

    def _answer(self, endpoint: str, response: Any) -> HttpAnswer:
        body = response.body if isinstance(response.body, bytes) else response.body.encode()
        answer = HttpAnswer(response.status, body, dict(response.headers))
        return self.override[endpoint](answer) if endpoint in self.override else answer


def raising(error: EmrexError) -> Callable[[HttpAnswer], HttpAnswer]:
    def fail(_answer: HttpAnswer) -> HttpAnswer:
        raise error

    return fail


@dataclass
class Flow:
    """One EMREX 2.0 transfer of ``Kari``, chosen for the mock EMP 2.0, up to the redirect back."""

    aws: AwsEnv
    mock: MockEmp2
    emp: InProcessEmp
    transfer: Transfer
    state: str
    cookie: str
    verifier: str

    def authorize(self, scenario: str = "ok", learner: Learner = KARI, challenge: str | None = None) -> dict[str, str]:
        """The query of the mock EMP's redirect back, after the student picked ``scenario``."""
        return decided(self.mock, self.state, challenge or code_challenge(self.verifier), scenario, learner)

    def redirect(
        self, query: Mapping[str, str], *, cookie: str | None = "", jar: list[str] | None = None
    ) -> dict[str, Any]:
        """GET /callback with ``query`` in this browser (``cookie=None``: without the flow cookie; ``jar``: these
        ``name=value`` cookies instead)."""
        value = self.cookie if cookie == "" else cookie
        cookies = jar if jar is not None else [] if value is None else [f"{flow_cookie_name(self.transfer.id)}={value}"]
        return callback_handler.handler(get_event(query, cookies), LAMBDA_CONTEXT)  # type: ignore[no-any-return]

    def outcome_page(self, location: str) -> dict[str, Any]:
        return self.redirect(dict(parse_qsl(urlsplit(location).query)))

    def stored(self) -> Transfer:
        stored = self.aws.transfers.get(self.transfer.id)
        assert stored is not None
        return stored


def flow_cookie_name(transfer_id: str) -> str:
    return FLOW_COOKIE_PREFIX + transfer_id[:12]


def decided(
    mock: MockEmp2, state: str, challenge: str, scenario: str = "ok", learner: Learner = KARI
) -> dict[str, str]:
    """The query of the mock EMP's redirect back for one authorization request, after the student's choice."""
    form = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "code_challenge": challenge,
        "scenario": scenario,
        "given_names": learner.given_names,
        "family_name": learner.family_name,
        "birth_date": learner.birth_date,
    }
    request = HttpRequest(
        "POST", DECIDE_PATH, {"content-type": "application/x-www-form-urlencoded"}, body=urlencode(form).encode()
    )
    response = mock.decide(request)
    assert response.status == 303, response.body
    location = response.headers["location"]
    assert location.startswith(f"{REDIRECT_URI}?")
    return dict(parse_qsl(urlsplit(location).query))


def get_event(query: Mapping[str, str], cookies: list[str]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "GET /callback",
        "rawPath": "/callback",
        "rawQueryString": urlencode(query),
        "headers": {"accept-language": "en", "host": "attacker.example", "accept": "text/html"},
        "requestContext": {"http": {"method": "GET", "path": "/callback", "sourceIp": "192.0.2.1"}, "requestId": "r2"},
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if cookies:
        event["cookies"] = list(cookies)
    return event


def mock_emp(key: ClientKeyEnv) -> MockEmp2:
    record = client_record(key)
    return MockEmp2(
        base_url=EMP2_BASE,
        key=EMP_KEY,
        client_records=lambda client_id: record if client_id == CLIENT_ID else None,
        default_learner=KARI,
    )


def start_flow(
    aws_env: AwsEnv, client_key: ClientKeyEnv, monkeypatch: pytest.MonkeyPatch, *, emp: Emp | None = None
) -> Flow:
    """A transfer chosen for the mock EMP 2.0 (as StartService.choose does) and the handler wired to it."""
    mock = mock_emp(client_key)
    endpoints = InProcessEmp(mock)
    monkeypatch.setattr("emrex_emc.adapters.emp_http.EmpHttp", lambda **_: endpoints)
    callback_handler.reset()
    chosen_emp = emp or mock.registry_entry()
    transfer = new_transfer(start_used=False)
    aws_env.transfers.create(transfer)
    verifier, session_id, cookie = new_code_verifier(), new_session_id(), new_flow_cookie()
    chosen = aws_env.transfers.choose_emp(
        transfer.id, emp=chosen_emp, session_id=session_id, now=int(time.time()), code_verifier=verifier
    )
    claims = StateClaims(
        transfer_id=chosen.id,
        session_id=session_id,
        emp_id=chosen_emp.id,
        expires_at=chosen.deadline,
        protocol=ProtocolVersion.EMREX_2,
        browser=flow_cookie_hash(cookie),
    )
    return Flow(aws_env, mock, endpoints, chosen, aws_env.signer.sign(claims), cookie, verifier)


def with_certificates(emp: Emp, *certificates: bytes) -> Emp:
    return replace(emp, certificates=certificates)
