"""JOSE encoding helpers for EMREX 2.0 (pure, standard library only: no cryptography at import time).

Base64url without padding (RFC 7515 §2) and the compact form of our client assertion (a JWT, RFC 7519):
:func:`jwt_signing_input` is what the KMS key signs, :func:`compact_jwt` joins it with the signature.
Verifying the EMP's detached JWS is :mod:`emrex_emc.core.jws`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from emrex_emc.core.errors import EmrexError, ErrorCode

RS256 = "RS256"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str) -> bytes:
    """Strict base64url without padding; ``EmrexError`` ``JWS_MALFORMED`` naming ``what`` otherwise."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise EmrexError(ErrorCode.JWS_MALFORMED, f"the {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise EmrexError(ErrorCode.JWS_MALFORMED, f"the {what} is not base64url") from None


def jwt_signing_input(header: Mapping[str, Any], claims: Mapping[str, Any]) -> bytes:
    """``BASE64URL(header) "." BASE64URL(claims)`` of compact JSON: what the KMS key signs (MessageType RAW)."""
    encoded = [b64url(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, claims)]
    return ".".join(encoded).encode("ascii")


def compact_jwt(signing_input: bytes, signature: bytes) -> str:
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"
