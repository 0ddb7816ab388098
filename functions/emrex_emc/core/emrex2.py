"""EMREX 2.0 on the EMC's side, as pinned in docs/EMREX2.md (pure: values in, values out).

The authorization request (PKCE S256), the redirect back (``code`` or ``error``, ``state``, RFC 9207 ``iss``),
the token request with a ``private_key_jwt`` client assertion (RFC 7523), the results request and the
meaning of every answer. The HTTP calls are an adapter's; signing is KMS's; verifying the results is
:func:`emrex_emc.core.pipeline.verify_elmo_results`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.jose import RS256, b64url, jwt_signing_input
from emrex_emc.core.json_input import parse_json
from emrex_emc.core.registry import Emrex2Endpoints, url_origin
from emrex_emc.core.text import clip

DATA_FORMAT = "elmo"
DATA_FORMAT_VERSION = "2.1"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 300
"""``exp - iat`` of our client assertion: the pinned profile allows at most 5 minutes."""
VERIFIER_BYTES = 32
"""Random bytes of a PKCE code verifier: 43 base64url characters (RFC 7636 asks 43 to 128)."""
MAX_CODE_CHARS = 2048
MAX_ERROR_CHARS = 100
MAX_ERROR_DESCRIPTION_CHARS = 500
MAX_ISSUER_CHARS = 2000
MAX_ACCESS_TOKEN_CHARS = 8192
MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
"""A token response is a small JSON object; anything larger is refused while it streams in."""
ACCESS_DENIED = "access_denied"
TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
"""What an EMP that cannot be reached (timeout, connection) is recorded as (an RFC 6749 error code)."""
SERVER_ERROR = "server_error"
"""What an unusable EMP answer (redirect, malformed, oversized, unexpected status) is recorded as."""
_ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]+")
"""RFC 6749 §4.1.2.1: the characters an ``error`` value may hold."""
_PRINTABLE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class ClientIdentity:
    """Who we are to EMREX 2.0 EMPs: our EMREG client record (from configuration, never from a request)."""

    client_id: str
    redirect_uri: str
    """``{EMREX_PUBLIC_BASE_URL}/callback``: exactly what EMREG holds and what every request sends."""
    name: str
    country: str


@dataclass(frozen=True)
class EmpRedirect:
    """The EMP's redirect back to ``GET /callback``: ``code`` or ``error``, always ``state``."""

    state: str
    code: str | None = None
    error: str | None = None
    error_description: str | None = None
    issuer: str | None = None
    """RFC 9207 ``iss``, when the EMP sends it."""
    flow_cookies: FlowCookies = field(default_factory=lambda: FlowCookies({}))
    """The browser's flow cookies, one per EMREX 2.0 transfer it chose an EMP for."""

    def __repr__(self) -> str:  # the code is a credential: never in logs or tracebacks
        return f"EmpRedirect(code={'…' if self.code else None}, error={self.error!r})"

    @classmethod
    def of(cls, query: Mapping[str, str], flow_cookies: FlowCookies) -> EmpRedirect:
        """Checked and bounded; raises ``OAUTH_RESPONSE_INVALID`` for an answer that is neither code nor error."""
        code, error = query.get("code") or None, query.get("error") or None
        if (code is None) == (error is None):
            raise EmrexError(
                ErrorCode.OAUTH_RESPONSE_INVALID, "the provider's answer must carry either a code or an error"
            )
        if code is not None and (len(code) > MAX_CODE_CHARS or not _PRINTABLE.fullmatch(code)):
            raise EmrexError(ErrorCode.OAUTH_RESPONSE_INVALID, "the authorization code is not a short printable value")
        issuer = query.get("iss")
        if issuer is not None and len(issuer) > MAX_ISSUER_CHARS:
            raise EmrexError(ErrorCode.OAUTH_RESPONSE_INVALID, "the iss parameter is too long")
        return cls(
            state=query.get("state", ""),
            code=code,
            error=error,
            error_description=query.get("error_description"),
            issuer=issuer,
            flow_cookies=flow_cookies,
        )


# --- starting the flow ---------------------------------------------------------------------------------


def new_code_verifier() -> str:
    return b64url(secrets.token_bytes(VERIFIER_BYTES))


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256: ``BASE64URL(SHA256(ASCII(code_verifier)))``."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_flow_cookie() -> str:
    return b64url(secrets.token_bytes(32))


FLOW_COOKIE_SUFFIX_CHARS = 12
"""A flow cookie's name ends with the first 12 characters of its transfer's id (``core.protocol.new_transfer_id``):
not secret (the id is in every link of the transfer), distinct enough that two transfers of one browser never
share a cookie, short enough to keep the Cookie header small."""
_FLOW_COOKIE_SUFFIX = re.compile(rf"[0-9a-f]{{{FLOW_COOKIE_SUFFIX_CHARS}}}")
MAX_FLOW_COOKIES = 20
"""Flow cookies considered per request: one per transfer still open in this browser, far more than a student has."""
MAX_FLOW_COOKIE_CHARS = 64
"""Longest flow cookie value read (``new_flow_cookie`` makes 43 characters)."""


def flow_cookie_suffix(transfer_id: str) -> str:
    return transfer_id[:FLOW_COOKIE_SUFFIX_CHARS]


@dataclass(frozen=True)
class FlowCookies:
    """The flow cookies a request carries, by name suffix; which one counts is decided by the verified state."""

    by_suffix: Mapping[str, str]

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> FlowCookies:
        """At most ``MAX_FLOW_COOKIES`` well-formed ones (suffix, bounded value); anything else is ignored."""
        kept: dict[str, str] = {}
        for suffix, value in pairs:
            if len(kept) == MAX_FLOW_COOKIES:
                break
            if _FLOW_COOKIE_SUFFIX.fullmatch(suffix) and 0 < len(value) <= MAX_FLOW_COOKIE_CHARS:
                kept.setdefault(suffix, value)  # the first, as ``HttpRequest`` keeps of a repeated cookie
        return cls(kept)

    def for_transfer(self, transfer_id: str) -> str | None:
        return self.by_suffix.get(flow_cookie_suffix(transfer_id))


def flow_cookie_hash(value: str) -> str:
    """What the state carries of the flow cookie (the cookie itself never leaves the browser and us)."""
    return b64url(hashlib.sha256(value.encode("utf-8", "replace")).digest())


def authorization_parameters(client: ClientIdentity, state: str, verifier: str) -> list[tuple[str, str]]:
    return [
        ("response_type", "code"),
        ("client_id", client.client_id),
        ("redirect_uri", client.redirect_uri),
        ("state", state),
        ("code_challenge", code_challenge(verifier)),
        ("code_challenge_method", "S256"),
    ]


def authorization_url(endpoints: Emrex2Endpoints, client: ClientIdentity, state: str, verifier: str) -> str:
    """The EMP's ``authorizationUrl`` with our parameters added to its own query (RFC 6749 §3.1)."""
    return _with_query(endpoints.authorization_url, authorization_parameters(client, state, verifier))


def _with_query(url: str, parameters: list[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    ours = {name for name, _ in parameters}
    kept = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name not in ours]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept + parameters), ""))


def issuer_matches(endpoints: Emrex2Endpoints, issuer: str) -> bool:
    """RFC 9207: ``iss`` must name this EMP. EMREG has no issuer field, so the issuer is identified by the
    origin of the authorization endpoint (which also makes the EMP's id): same scheme, host and port."""
    try:
        parts = urlsplit(issuer)
        return not parts.query and not parts.fragment and url_origin(issuer) == url_origin(endpoints.authorization_url)
    except ValueError:
        return False


# --- the token request -------------------------------------------------------------------------------


def client_assertion_input(*, client_id: str, token_url: str, key_id: str, now: int) -> bytes:
    """The signing input of our RFC 7523 client assertion (``iss`` = ``sub`` = client id, ``aud`` = token URL)."""
    header = {"alg": RS256, "typ": "JWT", "kid": key_id}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "jti": secrets.token_urlsafe(24),
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECONDS,
    }
    return jwt_signing_input(header, claims)


def token_request_form(*, code: str, redirect_uri: str, verifier: str, assertion: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }


def results_url(endpoints: Emrex2Endpoints) -> str:
    parameters = [("data_format", DATA_FORMAT), ("data_format_version", DATA_FORMAT_VERSION)]
    return _with_query(endpoints.resource_url, parameters)


# --- the EMP's answers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpAnswer:
    """What an EMP endpoint answered: the status, the headers we read (lower-case names) and the body."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] | None = None

    def header(self, name: str) -> str | None:
        return (self.headers or {}).get(name)


class EmpSaidNo(Exception):
    """The EMP answered with an OAuth error (or could not be used): the transfer ends as a provider error."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.description = description

    @classmethod
    def of(cls, failure: EmrexError) -> EmpSaidNo:
        """An unreachable or unusable EMP, named with the RFC 6749 error code that says so."""
        code = TEMPORARILY_UNAVAILABLE if failure.code is ErrorCode.EMP_UNAVAILABLE else SERVER_ERROR
        return cls(code, failure.message)


def access_token(answer: HttpAnswer) -> str:
    """The access token of a token response; raises :class:`EmpSaidNo` for anything else."""
    if answer.status != 200:
        raise _oauth_error(answer, "the token endpoint")
    document = _json_object(answer.body)
    token, kind = document.get("access_token"), document.get("token_type", "Bearer")
    if not isinstance(token, str) or len(token) > MAX_ACCESS_TOKEN_CHARS or not _PRINTABLE.fullmatch(token):
        raise EmpSaidNo(SERVER_ERROR, "the token response holds no usable access_token")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise EmpSaidNo(SERVER_ERROR, f"the token type is {clip(kind, 40)!r}, not Bearer")
    return token


def results_problem(answer: HttpAnswer) -> EmpSaidNo | None:
    """None for results (200) or no results (204); otherwise why the results endpoint said no."""
    return None if answer.status in {200, 204} else _oauth_error(answer, "the results endpoint")


def _oauth_error(answer: HttpAnswer, where: str) -> EmpSaidNo:
    """RFC 6749 §5.2 / RFC 6750 §3: ``{"error": ..., "error_description": ...}``; else ``server_error``."""
    try:
        document = _json_object(answer.body)
    except EmpSaidNo:
        document = {}
    error, description = document.get("error"), document.get("error_description")
    if isinstance(error, str) and _ERROR_CODE.fullmatch(error):
        text = description if isinstance(description, str) else ""
        return EmpSaidNo(clip(error, MAX_ERROR_CHARS), clip(text, MAX_ERROR_DESCRIPTION_CHARS))
    return EmpSaidNo(SERVER_ERROR, f"{where} answered HTTP {answer.status}")


def _json_object(body: bytes) -> dict[str, object]:
    try:
        document = parse_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EmpSaidNo(SERVER_ERROR, "the answer is not JSON") from None
    if not isinstance(document, dict):
        raise EmpSaidNo(SERVER_ERROR, "the answer is not a JSON object")
    return document


def redirect_error(redirect: EmpRedirect) -> EmpSaidNo:
    """The ``error`` of an error redirect, bounded (its characters as RFC 6749 allows, else ``server_error``)."""
    error = redirect.error or ""
    code = clip(error, MAX_ERROR_CHARS) if _ERROR_CODE.fullmatch(error) else SERVER_ERROR
    return EmpSaidNo(code, clip(redirect.error_description or "", MAX_ERROR_DESCRIPTION_CHARS))
