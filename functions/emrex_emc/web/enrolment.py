"""The enrolment API's HTTP side: bearer token, the JSON body (validated declaratively), JSON answers.

``POST /sessions`` validates every field (nothing is stored on bad input) and checks ``return_url``
against the allow-list (``core.return_urls``), so we are never an open redirect. ``GET /sessions/{id}``
returns the effective status and, once the callback stored one, the public part of the outcome.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.json_input import parse_json
from emrex_emc.core.return_urls import return_url_allowed
from emrex_emc.core.schema import FieldProblem, Text, validate
from emrex_emc.core.transfer import EnrolmentRequest, Transfer, utc_iso
from emrex_emc.web.http import HttpRequest, HttpResponse, json_response
from emrex_emc.web.i18n import SUPPORTED_LANGUAGES

MAX_BODY_BYTES = 16 * 1024
MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2048
OLDEST_BIRTH_YEAR = 1900
_PUBLIC_OUTCOME_FIELDS = ("at", "status", "return_code", "summary", "s3", "warnings")
_LOCALE_RE = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")
APPLICANT_ID = Text(
    128,
    pattern=re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}"),
    pattern_message="must be 1-128 characters of letters, digits and . _ : @ / + -",
)
"""An applicant id: never holds ``%`` (so a percent-encoded one in a path is told apart, see web.applicants)."""


def authorize(request: HttpRequest, tokens: Sequence[str]) -> None:
    """Raises ``EmrexError`` ``UNAUTHORIZED`` unless ``Authorization: Bearer`` holds one of ``tokens``."""
    if not bearer_matches(request, tokens):
        raise EmrexError(ErrorCode.UNAUTHORIZED, "a valid bearer token is required")


def bearer_matches(request: HttpRequest, tokens: Sequence[str]) -> bool:
    """Whether ``Authorization: Bearer`` holds one of ``tokens`` (each compared in constant time)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    presented = token.strip().encode("utf-8") if scheme.lower() == "bearer" else b""
    matches = [hmac.compare_digest(presented, known.encode("utf-8")) for known in tokens if known]
    return any(matches)


def enrolment_request(
    request: HttpRequest, *, allowed_return_urls: Sequence[str], local_mode: bool, today: date
) -> EnrolmentRequest:
    """The validated body of ``POST /sessions``; raises ``EmrexError`` for the first problem."""
    if len(request.body) > MAX_BODY_BYTES:
        raise EmrexError(ErrorCode.BODY_TOO_LARGE, f"the body must be at most {MAX_BODY_BYTES} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise EmrexError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "the body must be application/json")
    try:
        data: Any = parse_json(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EmrexError(ErrorCode.VALIDATION_FAILED, "body is not valid UTF-8 JSON", field="body") from None

    def birth_date(value: str) -> str:
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            raise FieldProblem("is not a real calendar date") from None
        if parsed > today:
            raise FieldProblem("must not be in the future")
        if parsed.year < OLDEST_BIRTH_YEAR:
            raise FieldProblem(f"must not be before {OLDEST_BIRTH_YEAR}")
        return value

    def return_url(value: str) -> str:
        if not return_url_allowed(value, allowed_return_urls, local_mode=local_mode):
            raise FieldProblem(
                "is not on the allow-list of return URLs (EMREX_ALLOWED_RETURN_URLS)", ErrorCode.RETURN_URL_NOT_ALLOWED
            )
        return value

    values = validate(
        data,
        {
            "applicant_id": APPLICANT_ID,
            "given_names": Text(MAX_NAME_CHARS, allow_empty=True),
            "family_name": Text(MAX_NAME_CHARS),
            "birth_date": Text(
                10,
                pattern=re.compile(r"\d{4}-\d{2}-\d{2}"),
                pattern_message="must be a date in the form YYYY-MM-DD",
                check=birth_date,
            ),
            "return_url": Text(MAX_URL_CHARS, check=return_url),
            "locale": Text(35, optional=True, check=_locale),
        },
    )
    return EnrolmentRequest(**values)


def _locale(value: str) -> str:
    match = _LOCALE_RE.fullmatch(value)
    language = match.group(1).lower() if match else ""
    if language not in SUPPORTED_LANGUAGES:
        supported = ", ".join(f"'{code}'" for code in SUPPORTED_LANGUAGES)
        raise FieldProblem(
            f"must be one of the official EU languages ({supported}), optionally with a region (e.g. 'nl-NL')"
        )
    return language


def created(transfer: Transfer, *, base_url: str) -> HttpResponse:
    return json_response(
        201,
        {"id": transfer.id, "start_url": f"{base_url}/start/{transfer.id}", "expires_at": utc_iso(transfer.deadline)},
    )


def transfer_status(transfer: Transfer, *, now: int) -> HttpResponse:
    return json_response(
        200,
        {
            "id": transfer.id,
            "status": transfer.effective_status(now).value,
            "applicant_id": transfer.applicant_id,
            "emp": transfer.emp.to_json() if transfer.emp else None,
            "created_at": transfer.created_at,
            "expires_at": utc_iso(transfer.deadline),
            "outcome": _public_outcome(transfer),
        },
    )


def _public_outcome(transfer: Transfer) -> dict[str, Any] | None:
    """What an enrolment system may see of the outcome: no hashes, no signature or identity details."""
    if transfer.outcome is None:
        return None
    item = transfer.outcome.to_item()
    public = {name: item[name] for name in _PUBLIC_OUTCOME_FIELDS if name in item}
    if "identity" in item:
        public["identity"] = transfer.outcome.identity_verdict
    if "error" in item:
        public["error"] = transfer.outcome.error_code
    return public
