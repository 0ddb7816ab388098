"""A mock EMREX 2.0 data provider (EMP) that behaves like a real one, for the local demo and the tests.

It is an OAuth 2 authorization server and resource server as the pinned profile (docs/EMREX2.md) has it:

* ``GET /emp2/authorize``: checks the request (``response_type=code``, a client EMREG knows, exactly its
  registered ``redirect_uri``, a PKCE S256 challenge) and shows a page (no login) where the tester picks a
  scenario and the learner; the choice redirects back with ``code`` (or ``error=access_denied``), ``state``
  and ``iss`` (RFC 9207);
* ``POST /emp2/token``: checks the client assertion the way a real EMP does, against the EMC's EMREG client
  record (RS256 with its ``publicKey``, ``iss`` = ``sub`` = client id, ``aud`` = this token URL, unexpired,
  at most 5 minutes, ``jti`` never seen before), the code (once, same client and redirect URI) and PKCE
  (``BASE64URL(SHA256(code_verifier))`` = the challenge), then issues a Bearer token;
* ``GET /emp2/results?data_format=elmo&data_format_version=2.1``: the ELMO XML, signed by a detached JWS in
  ``X-Signature`` (RS256); 204 when there are no results.

Scenarios: ``ok`` (results issued by the institution it lists in EMREG), ``access-denied``, ``no-results``,
``tampered-body`` (the body changed after signing), ``wrong-key`` (signed with a key EMREG does not list) and
``issuer-not-covered`` (results issued by an institution another EMP covers). The EMP's key is kept under
``.local/`` so the local EMREG v2 list stays valid across restarts.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emrex_emc.core.emrex2 import CLIENT_ASSERTION_TYPE, DATA_FORMAT, DATA_FORMAT_VERSION, code_challenge
from emrex_emc.core.errors import EmrexError
from emrex_emc.core.jose import b64url_decode
from emrex_emc.core.json_input import parse_json
from emrex_emc.core.jws import public_key_der
from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.registry import Emp, Emrex2Endpoints, emp_id, url_origin
from emrex_emc.local import elmo_factory
from emrex_emc.local.apigw import Route
from emrex_emc.local.jose_signing import AssertionRefused, detached_jws, verified_jwt_claims
from emrex_emc.local.mock_emp import Learner, tamper_grade
from emrex_emc.web.html import Markup, join, page
from emrex_emc.web.http import HttpRequest, HttpResponse, html_response, json_response

logger = logging.getLogger(__name__)

AUTHORIZE_PATH = "/emp2/authorize"
DECIDE_PATH = "/emp2/decide"
TOKEN_PATH = "/emp2/token"  # noqa: S105 - a path, not a secret
RESULTS_PATH = "/emp2/results"
MOCK_EMP2_NAME = "EMREX 2.0 mock EMP (local)"
MOCK_EMP2_COUNTRY = "NL"
MOCK_EMP2_INSTITUTION = "Demo Hogeschool voor EMREX 2.0"
MOCK_EMP2_ISSUER = elmo_factory.Institution(
    name=MOCK_EMP2_INSTITUTION,
    country=MOCK_EMP2_COUNTRY,
    identifiers=(("schac", "hogeschool.example.nl"),),
    url="https://www.hogeschool.example.nl",
)
"""The issuer of the mock's results. EMREG v2 lists institutions by name only, so no registry knows its id:
its provenance is ``same_country`` (a Dutch issuer from a Dutch EMP), which the outcome page does not flag."""
SCENARIOS: tuple[tuple[str, str], ...] = (
    ("ok", "Results: a few courses"),
    ("access-denied", "I do not give my consent (access_denied)"),
    ("no-results", "No results to transfer (204)"),
    ("tampered-body", "A grade changed after signing (the JWS no longer matches)"),
    ("wrong-key", "Signed with a key that EMREG does not list"),
    ("issuer-not-covered", "Results from an institution this EMP does not cover (University of Athens, Greece)"),
)
CODE_SECONDS = 60
TOKEN_SECONDS = 300
MAX_ASSERTION_SECONDS = 300
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action *"
"""The mock EMP is another site: its decision redirects to the EMC (form-action covers the redirect)."""

ClientRecords = Callable[[str], Mapping[str, Any] | None]
"""The EMC's EMREG client record by client id (``clientId``, ``redirectUri``, ``publicKey``), or None."""


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scenario: str
    learner: Learner
    expires: float
    used: bool = False


@dataclass
class MockEmp2:
    base_url: str
    """Where this mock is reached (``http://127.0.0.1:PORT``): its issuer and the origin of its endpoints."""
    key: rsa.RSAPrivateKey
    client_records: ClientRecords
    default_learner: Learner
    learner_for: Callable[[str], Learner | None] = lambda _state: None
    """The applicant of the transfer a ``state`` belongs to: who a real EMP's login would show."""
    document: Callable[[Learner], bytes] | None = None
    """The ELMO XML to serve (the benchmark serves one fixed document); default: 3 courses of the learner."""
    wrong_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _tokens: dict[str, _Grant] = field(default_factory=dict)
    _seen_jti: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    def registry_entry(self) -> Emp:
        """How EMREG v2 lists this EMP."""
        endpoints = Emrex2Endpoints(
            authorization_url=f"{self.base_url}{AUTHORIZE_PATH}",
            token_url=self.token_url,
            resource_url=f"{self.base_url}{RESULTS_PATH}",
            data_formats=(f"{DATA_FORMAT}-{DATA_FORMAT_VERSION}",),
        )
        public = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return Emp(
            id=emp_id(MOCK_EMP2_COUNTRY, url_origin(endpoints.authorization_url)),
            name=MOCK_EMP2_NAME,
            url=endpoints.authorization_url,
            country=MOCK_EMP2_COUNTRY,
            institutions=(MOCK_EMP2_INSTITUTION,),
            source="emreg2",
            protocol=ProtocolVersion.EMREX_2,
            emrex2=endpoints,
            public_key=public_key_der(public),
        )

    def routes(self) -> list[Route]:
        def wrap(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
            return lambda event, _context: view(HttpRequest.from_apigw(event)).to_apigw()

        return [
            Route("GET", AUTHORIZE_PATH, "mock_emp2", wrap(self.authorize)),
            Route("POST", DECIDE_PATH, "mock_emp2", wrap(self.decide)),
            Route("POST", TOKEN_PATH, "mock_emp2_api", wrap(self.token)),
            Route("GET", RESULTS_PATH, "mock_emp2_api", wrap(self.results)),
        ]

    # --- the authorization endpoint (the student's browser) ------------------------------------------

    def authorize(self, request: HttpRequest) -> HttpResponse:
        query = request.query
        problem = self._authorization_problem(query)
        if problem is not None:
            return _error_page(400, problem)  # never redirect to an unverified redirect_uri (RFC 6749 §4.1.2.1)
        learner = self.learner_for(query.get("state", "")) or self.default_learner
        hidden = join(
            Markup('<input type="hidden" name="{}" value="{}">').format(name, query[name])
            for name in ("client_id", "redirect_uri", "state", "code_challenge")
        )
        radios = join(
            Markup(
                '<div><input type="radio" name="scenario" id="scenario-{id}" value="{id}"{checked}>'
                '<label for="scenario-{id}">{label}</label></div>'
            ).format(id=sid, label=label, checked=Markup(" checked") if sid == "ok" else "")
            for sid, label in SCENARIOS
        )
        body = (
            Markup(
                "<h1>{name}</h1><p>An EMREX 2.0 test provider: no login. Client <code>{client}</code> asks for your "
                'results. Pick what it should receive.</p><form method="post" action="{action}" id="decision">{hidden}'
                "<fieldset><legend>Scenario</legend>{radios}</fieldset><fieldset><legend>Learner</legend>"
            ).format(name=MOCK_EMP2_NAME, client=query["client_id"], action=DECIDE_PATH, hidden=hidden, radios=radios)
            + _input("Given names", "given_names", learner.given_names)
            + _input("Family name", "family_name", learner.family_name)
            + _input("Birth date", "birth_date", learner.birth_date, "date")
            + Markup('</fieldset><p><button type="submit" id="send-results">Share with the EMREX client</button></p>')
            + Markup("</form>")
        )
        return html_response(
            200, page(lang="en", title=MOCK_EMP2_NAME, body=body), {"content-security-policy": _PAGE_CSP}
        )

    def _authorization_problem(self, query: Mapping[str, str]) -> str | None:
        if query.get("response_type") != "code":
            return "response_type must be 'code'."
        record = self.client_records(query.get("client_id", ""))
        if record is None:
            return "This client_id is not registered in EMREG."
        if query.get("redirect_uri") != record.get("redirectUri"):
            return "The redirect_uri is not the one registered in EMREG for this client."
        if query.get("code_challenge_method") != "S256" or len(query.get("code_challenge", "")) != 43:
            return "A PKCE code_challenge with code_challenge_method=S256 is required."
        if not query.get("state"):
            return "A state is required."
        return None

    def decide(self, request: HttpRequest) -> HttpResponse:
        form = _form(request)
        problem = self._authorization_problem({**form, "response_type": "code", "code_challenge_method": "S256"})
        scenario = form.get("scenario", "")
        if problem is not None or scenario not in dict(SCENARIOS):
            return _error_page(400, problem or "Pick one of the scenarios.")
        learner = Learner(form.get("given_names", ""), form.get("family_name", ""), form.get("birth_date", ""))
        try:
            date.fromisoformat(learner.birth_date)
        except ValueError:
            return _error_page(400, "The birth date must be a date in the form YYYY-MM-DD.")
        answer: dict[str, str] = {"state": form["state"], "iss": self.base_url}
        if scenario == "access-denied":
            answer = {"error": "access_denied", "error_description": "The student did not consent.", **answer}
        else:
            code = secrets.token_urlsafe(24)
            grant = _Grant(form["client_id"], form["redirect_uri"], form["code_challenge"], scenario, learner, 0.0)
            grant.expires = time.time() + CODE_SECONDS
            with self._lock:
                self._codes[code] = grant
            answer = {"code": code, **answer}
        location = f"{form['redirect_uri']}?{urlencode(answer)}"
        return HttpResponse(303, headers={"location": location, "cache-control": "no-store"})

    # --- the token endpoint (server to server) ---------------------------------------------------------

    def token(self, request: HttpRequest) -> HttpResponse:
        form = _form(request)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be authorization_code")
        try:
            client_id = self._authenticated_client(form)
        except AssertionRefused as refusal:
            return _oauth_error(401, "invalid_client", str(refusal))
        with self._lock:
            grant = self._codes.get(form.get("code", ""))
            if grant is None or grant.used or grant.expires < time.time():
                return _oauth_error(400, "invalid_grant", "the code is unknown, used or expired")
            grant.used = True
        if grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
            return _oauth_error(400, "invalid_grant", "the code was issued to another client or redirect_uri")
        if code_challenge(form.get("code_verifier", "")) != grant.challenge:
            return _oauth_error(400, "invalid_grant", "PKCE verification failed")
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = _Grant(**{**grant.__dict__, "expires": time.time() + TOKEN_SECONDS})
        logger.info("mock EMP 2.0 issued an access token (scenario %s)", grant.scenario)
        return json_response(200, {"access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS})

    def _authenticated_client(self, form: Mapping[str, str]) -> str:
        """RFC 7523 client authentication against the EMC's EMREG record; the client id, or AssertionRefused."""
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise AssertionRefused("client_assertion_type must be jwt-bearer")
        assertion = form.get("client_assertion", "")
        unverified = assertion.split(".")
        claimed = _unverified_issuer(unverified[1] if len(unverified) == 3 else "")
        record = self.client_records(claimed)
        if record is None:
            raise AssertionRefused("the assertion's issuer is not a client registered in EMREG")
        claims = verified_jwt_claims(assertion, public_key_der(str(record.get("publicKey", "")).encode()))
        now = time.time()
        if not (claims.get("iss") == claims.get("sub") == record.get("clientId")):
            raise AssertionRefused("iss and sub must both be the client id")
        if claims.get("aud") != self.token_url:
            raise AssertionRefused("aud must be this token endpoint")
        iat, exp, jti = claims.get("iat"), claims.get("exp"), claims.get("jti")
        if not isinstance(iat, int) or not isinstance(exp, int) or not isinstance(jti, str) or not jti:
            raise AssertionRefused("iat, exp and jti are required")
        if exp <= now or exp - iat > MAX_ASSERTION_SECONDS or iat > now + 60:
            raise AssertionRefused("the assertion is expired, lives too long or is not yet valid")
        with self._lock:
            if jti in self._seen_jti:
                raise AssertionRefused("this assertion (jti) was used before")
            self._seen_jti.add(jti)
        return str(record["clientId"])

    # --- the resource endpoint -------------------------------------------------------------------------

    def results(self, request: HttpRequest) -> HttpResponse:
        authorization = request.headers.get("authorization", "")
        with self._lock:
            grant = self._tokens.get(authorization.removeprefix("Bearer ").strip())
        if not authorization.startswith("Bearer ") or grant is None or grant.expires < time.time():
            response = _oauth_error(401, "invalid_token", "the access token is unknown or expired")
            response.headers["www-authenticate"] = 'Bearer error="invalid_token"'
            return response
        version = request.query.get("data_format_version")
        if request.query.get("data_format") != DATA_FORMAT or version != DATA_FORMAT_VERSION:
            return _oauth_error(400, "invalid_request", "unsupported format/version")
        if grant.scenario == "no-results":
            return HttpResponse(204)
        body = self._document(grant)
        signature = detached_jws(body, self.wrong_key if grant.scenario == "wrong-key" else self.key)
        if grant.scenario == "tampered-body":
            body = tamper_grade(body)
        headers = {"content-type": "application/xml", "x-signature": signature, "x-signature-algorithm": "RS256"}
        return HttpResponse(200, body=body, headers=headers)

    def _document(self, grant: _Grant) -> bytes:
        if grant.scenario == "issuer-not-covered":  # another country's (the EMREX 1 mock EMP covers it)
            return _three_courses(grant.learner, elmo_factory.ATHENS)
        return (self.document or _three_courses)(grant.learner)


def _three_courses(learner: Learner, issuer: elmo_factory.Institution = MOCK_EMP2_ISSUER) -> bytes:
    """ELMO 2.1.1, the format and version an EMREX 2.0 client asks for (``data_format_version=2.1``)."""
    return elmo_factory.build_elmo_21(
        given_names=learner.given_names,
        family_name=learner.family_name,
        birth_date=date.fromisoformat(learner.birth_date),
        alternative_name=None,
        citizenship=issuer.country,
        country_of_birth=None,
        issuer=issuer,
        courses=3,
    )


def _unverified_issuer(claims_part: str) -> str:
    """Which client claims to have signed (to find its key); nothing is trusted before the signature checks."""
    try:
        claims = parse_json(b64url_decode(claims_part, "JWT claims"))
    except (ValueError, EmrexError):
        return ""
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else ""


def _form(request: HttpRequest) -> dict[str, str]:
    try:
        return request.form()
    except ValueError:
        return {}


def _oauth_error(status: int, error: str, description: str) -> HttpResponse:
    return json_response(status, {"error": error, "error_description": description})


def _error_page(status: int, message: str) -> HttpResponse:
    body = Markup('<h1>Mock EMP 2.0</h1><p class="notice error" role="alert">{}</p>').format(message)
    return html_response(status, page(lang="en", title="Mock EMP 2.0: error", body=body))


def _input(label: str, name: str, value: str, kind: str = "text") -> Markup:
    return Markup(
        '<label for="{id}">{label}</label><input id="{id}" name="{name}" type="{kind}" value="{value}">'
    ).format(id=name.replace("_", "-"), label=label, name=name, kind=kind, value=value)


def load_or_create_key(state_dir: Path) -> rsa.RSAPrivateKey:
    """The mock EMP's RSA key, generated on first start and kept in ``state_dir``."""
    path = state_dir / "mock-emp2-key.pem"
    if path.is_file():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key
