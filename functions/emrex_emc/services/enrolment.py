"""The enrolment API (server to server): create a transfer, read its status.

``POST /sessions`` validates the JSON body field by field (nothing is stored on bad input) and checks
``return_url`` against the configured allow-list by parsed scheme, host, port and path prefix, so we are
never an open redirect. ``GET /sessions/{id}`` returns the effective status and, once the callback stored
one, the public part of the outcome. Both require ``Authorization: Bearer <api_token>``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

from emrex_emc.adapters.sessions import PENDING_TTL_GRACE_SECONDS, SessionRepository, Transfer
from emrex_emc.core.errors import ErrorCode
from emrex_emc.core.protocol import Status, is_valid_transfer_id, new_transfer_id
from emrex_emc.settings import Settings
from emrex_emc.web.http import HttpRequest, HttpResponse, json_error, json_response

MAX_BODY_BYTES = 16 * 1024
MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2048
OLDEST_BIRTH_YEAR = 1900

FIELDS = ("applicant_id", "given_names", "family_name", "birth_date", "return_url", "locale")
_APPLICANT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LOCALE_RE = re.compile(r"(nl|en)(?:[-_][A-Za-z0-9]{1,8})*", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PUBLIC_OUTCOME_FIELDS = ("at", "status", "return_code", "summary", "s3", "warnings")


class FieldError(Exception):
    """One invalid field of the enrolment request (``field`` and a ``reason`` safe to return)."""

    def __init__(self, field: str, reason: str, code: ErrorCode = ErrorCode.VALIDATION_FAILED) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class EnrolmentRequest:
    applicant_id: str
    given_names: str
    family_name: str
    birth_date: str
    return_url: str
    locale: str
    """``nl``, ``en`` or empty (then the browser's Accept-Language decides)."""


# --- validation (pure) -------------------------------------------------------------------------------


def parse_enrolment(data: Any, *, settings: Settings, today: date) -> EnrolmentRequest:
    """Validate the decoded JSON body; raises :class:`FieldError` for the first bad field."""
    if not isinstance(data, dict):
        raise FieldError("body", "must be a JSON object")
    unknown = sorted(str(key) for key in data if key not in FIELDS)
    if unknown:
        raise FieldError(unknown[0], "unknown field")
    applicant_id = _text(data, "applicant_id", max_chars=128)
    if not _APPLICANT_ID_RE.fullmatch(applicant_id):
        raise FieldError("applicant_id", "must be 1-128 characters of letters, digits and . _ : @ / + -")
    given_names = _text(data, "given_names", max_chars=MAX_NAME_CHARS, allow_empty=True)
    family_name = _text(data, "family_name", max_chars=MAX_NAME_CHARS)
    birth_date = _birth_date(data, today)
    return_url = _text(data, "return_url", max_chars=MAX_URL_CHARS)
    if not return_url_allowed(return_url, settings.allowed_return_urls, local_mode=settings.local_mode):
        raise FieldError("return_url", "is not on the allow-list of return URLs", ErrorCode.RETURN_URL_NOT_ALLOWED)
    return EnrolmentRequest(
        applicant_id=applicant_id,
        given_names=given_names,
        family_name=family_name,
        birth_date=birth_date,
        return_url=return_url,
        locale=_locale(data),
    )


def _text(data: Mapping[str, Any], name: str, *, max_chars: int, allow_empty: bool = False) -> str:
    if name not in data or data[name] is None:
        raise FieldError(name, "is required")
    value = data[name]
    if not isinstance(value, str):
        raise FieldError(name, "must be a string")
    value = value.strip()
    if not value and not allow_empty:
        raise FieldError(name, "must not be empty")
    if len(value) > max_chars:
        raise FieldError(name, f"must be at most {max_chars} characters")
    if _CONTROL_RE.search(value):
        raise FieldError(name, "must not contain control characters")
    return value


def _birth_date(data: Mapping[str, Any], today: date) -> str:
    raw = _text(data, "birth_date", max_chars=10)
    if not _DATE_RE.fullmatch(raw):
        raise FieldError("birth_date", "must be a date in the form YYYY-MM-DD")
    try:
        value = date.fromisoformat(raw)
    except ValueError as exc:
        raise FieldError("birth_date", "is not a real calendar date") from exc
    if value > today:
        raise FieldError("birth_date", "must not be in the future")
    if value.year < OLDEST_BIRTH_YEAR:
        raise FieldError("birth_date", f"must not be before {OLDEST_BIRTH_YEAR}")
    return raw


def _locale(data: Mapping[str, Any]) -> str:
    value = data.get("locale")
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not _LOCALE_RE.fullmatch(value.strip()):
        raise FieldError("locale", "must be 'nl' or 'en' (optionally with a region, e.g. 'nl-NL')")
    return value.strip()[:2].lower()


def return_url_allowed(url: str, allowed: Iterable[str], *, local_mode: bool) -> bool:
    """Whether ``url`` falls under one of the ``allowed`` URL prefixes (or is loopback in local mode).

    Compares the parsed scheme, host and effective port exactly and the path by whole segments, so
    ``https://uni.example.evil.com`` does not match ``https://uni.example`` and ``/enrolment`` does not
    match ``/enrol``. URLs with credentials, backslashes, whitespace or dot segments are refused.
    """
    candidate = _safe_split(url)
    if candidate is None:
        return False
    if local_mode and _is_loopback(candidate.hostname or ""):
        return True
    return any(_matches(candidate, prefix) for prefix in allowed)


def _safe_split(url: str) -> SplitResult | None:
    if any(ch in url for ch in "\\ \t\r\n") or _CONTROL_RE.search(url):
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    segments = parts.path.split("/")
    if any(segment.lower() in {".", "..", "%2e", "%2e%2e", ".%2e", "%2e."} for segment in segments):
        return None
    return parts


def _effective_port(parts: SplitResult) -> int:
    return parts.port or _DEFAULT_PORTS[parts.scheme]


def _matches(candidate: SplitResult, prefix: str) -> bool:
    allowed = _safe_split(prefix)
    if allowed is None:
        return False
    if (candidate.scheme, candidate.hostname, _effective_port(candidate)) != (
        allowed.scheme,
        allowed.hostname,
        _effective_port(allowed),
    ):
        return False
    allowed_path = allowed.path or "/"
    path = candidate.path or "/"
    if allowed_path.endswith("/"):
        return path.startswith(allowed_path)
    return path == allowed_path or path.startswith(allowed_path + "/")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the service ---------------------------------------------------------------------------------------


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def public_outcome(outcome: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The part of the callback's ``outcome`` map an enrolment system may see (no hashes, signature details)."""
    if not outcome:
        return None
    result = {name: outcome[name] for name in _PUBLIC_OUTCOME_FIELDS if name in outcome}
    # only the verdict of the identity check and the code of an error, not their details
    for name, key in (("identity", "verdict"), ("error", "code")):
        if name in outcome:
            value = outcome[name]
            result[name] = value.get(key) if isinstance(value, Mapping) else value
    return result


class BearerTokens(Protocol):
    def accepts(self, presented: bytes) -> bool:
        """Whether ``presented`` is a valid token (compared in constant time)."""
        ...


class EnrolmentService:
    def __init__(
        self,
        *,
        sessions: SessionRepository,
        settings: Settings,
        api_tokens: BearerTokens,
        clock: Callable[[], float],
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._api_tokens = api_tokens
        self._clock = clock

    def authorized(self, request: HttpRequest) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        presented = token.strip().encode("utf-8") if scheme.lower() == "bearer" else b""
        return self._api_tokens.accepts(presented)

    def create(self, request: HttpRequest) -> HttpResponse:
        if len(request.body) > MAX_BODY_BYTES:
            return json_error(413, ErrorCode.VALIDATION_FAILED, f"the body must be at most {MAX_BODY_BYTES} bytes")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return json_error(415, ErrorCode.VALIDATION_FAILED, "the body must be application/json")
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _field_error(FieldError("body", "is not valid UTF-8 JSON"))
        now = int(self._clock())
        try:
            enrolment = parse_enrolment(data, settings=self._settings, today=datetime.fromtimestamp(now, UTC).date())
        except FieldError as error:
            return _field_error(error)
        transfer = self._new_transfer(enrolment, now)
        self._sessions.create(transfer)
        base = self._settings.public_base_url or request.base_url()
        return json_response(
            201,
            {"id": transfer.id, "start_url": f"{base}/start/{transfer.id}", "expires_at": _iso(transfer.deadline)},
        )

    def get(self, transfer_id: str) -> HttpResponse:
        transfer = self._sessions.get(transfer_id) if is_valid_transfer_id(transfer_id) else None
        if transfer is None:
            return json_error(404, ErrorCode.NOT_FOUND, "no transfer with this id")
        now = int(self._clock())
        return json_response(
            200,
            {
                "id": transfer.id,
                "status": transfer.effective_status(now).value,
                "applicant_id": transfer.applicant_id,
                "emp": transfer.emp,
                "created_at": transfer.created_at,
                "expires_at": _iso(transfer.deadline),
                "outcome": public_outcome(transfer.outcome),
            },
        )

    def _new_transfer(self, enrolment: EnrolmentRequest, now: int) -> Transfer:
        deadline = now + self._settings.session_ttl_seconds
        return Transfer(
            id=new_transfer_id(),
            applicant_id=enrolment.applicant_id,
            given_names=enrolment.given_names,
            family_name=enrolment.family_name,
            birth_date=enrolment.birth_date,
            return_url=enrolment.return_url,
            locale=enrolment.locale,
            status=Status.PENDING,
            created_at=_iso(now),
            deadline=deadline,
            expires_at=deadline + PENDING_TTL_GRACE_SECONDS,
        )


def unauthorized() -> HttpResponse:
    response = json_error(401, ErrorCode.UNAUTHORIZED, "a valid bearer token is required")
    response.headers["www-authenticate"] = 'Bearer realm="emrex-enrolment"'
    return response


def _field_error(error: FieldError) -> HttpResponse:
    return json_response(
        400, {"error": {"code": error.code.value, "field": error.field, "message": f"{error.field} {error.reason}"}}
    )
