"""Protocol values: which EMREX protocol a provider speaks, EMREX 1.x return codes, transfer statuses and
identifier generation (pure)."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from enum import StrEnum

SESSION_ID_LENGTH = 32
"""EMREX allows "up to 32 characters"; we always send exactly 32 letters and digits."""

_SESSION_ID_ALPHABET = string.ascii_letters + string.digits
_TRANSFER_ID_RE = re.compile(r"[0-9a-f]{32}")


class ProtocolVersion(StrEnum):
    """The EMREX protocol an EMP speaks and a transfer used; published as ``protocol`` in every event."""

    EMREX_1 = "emrex-1"
    """The browser POST/POST flow with an enveloped XML signature (``returnUrl``, ``sessionId``, ``elmo``)."""
    EMREX_2 = "emrex-2"
    """The OAuth 2 authorization-code flow with PKCE, ``private_key_jwt`` and detached-JWS signed results."""


class ReturnCode(StrEnum):
    """The meaning of an EMP's ``returnCode``, independent of the ``NCP_``/``EMP_`` prefix."""

    OK = "OK"
    ERROR = "ERROR"
    NO_RESULTS = "NO_RESULTS"
    CANCEL = "CANCEL"
    UNKNOWN = "UNKNOWN"


_KNOWN_CODES = {code.value for code in ReturnCode if code is not ReturnCode.UNKNOWN}


def parse_return_code(raw: str | None) -> ReturnCode:
    """Map ``NCP_OK``/``EMP_OK``/... (case-insensitive, surrounding whitespace ignored) to a :class:`ReturnCode`.

    Anything else, including a missing value, is :attr:`ReturnCode.UNKNOWN` (callers treat it as an error).
    """
    if raw is None:
        return ReturnCode.UNKNOWN
    prefix, sep, rest = raw.strip().upper().partition("_")
    if not sep or prefix not in {"NCP", "EMP"} or rest not in _KNOWN_CODES:
        return ReturnCode.UNKNOWN
    return ReturnCode(rest)


class Status(StrEnum):
    """Lifecycle of a transfer. ``EXPIRED`` is never stored: it is computed from the deadline."""

    PENDING = "pending"
    RECEIVED = "received"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    NO_RESULTS = "no_results"
    PROVIDER_ERROR = "provider_error"
    EXPIRED = "expired"


def new_session_id() -> str:
    """A fresh EMREX ``sessionId``: 32 characters from ``[A-Za-z0-9]`` (about 190 bits of randomness)."""
    return "".join(secrets.choice(_SESSION_ID_ALPHABET) for _ in range(SESSION_ID_LENGTH))


def new_transfer_id() -> str:
    """A fresh transfer id: 32 lower-case hex characters."""
    return secrets.token_hex(16)


def is_valid_transfer_id(value: object) -> bool:
    return isinstance(value, str) and _TRANSFER_ID_RE.fullmatch(value) is not None


@dataclass(frozen=True)
class EmpAnswer:
    """What an EMP sent back for a transfer (EMREX 1: the form posted to our ``returnUrl``)."""

    state: str
    """Our signed state from the ``returnUrl`` (binds the transfer, the ``sessionId`` and the EMP)."""
    session_id: str
    return_code: str
    return_message: str = ""
    elmo: str = ""
