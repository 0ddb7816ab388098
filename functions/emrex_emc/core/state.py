"""The signed ``state`` carried in the ``returnUrl`` we give the EMP (pure: keys are passed in).

Token layout (URL-safe, no escaping needed in a query string)::

    {key id}.{base64url(claims JSON)}.{base64url(HMAC-SHA256(key, "{key id}.{claims part}"))}

The claims are ``[transfer id, session id, EMP id, expires at]`` for EMREX 1 and
``[…, "emrex-2", flow cookie hash]`` for EMREX 2.0: the state binds the protocol it was issued for and, for
2.0, the browser that chose the EMP (the SHA-256 of its flow cookie).

The key id lets keys rotate: the current key signs, every configured key verifies. The MAC is checked
(in constant time) before the claims are decoded, so nothing unauthenticated is ever parsed. A well-formed
token whose key id is not configured raises :class:`UnknownStateKey`, so a caller holding a cache of the
keys can tell "signed with a key I have not seen yet" from "forged" (a wrong MAC under a known key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import ProtocolVersion

MIN_KEY_BYTES = 32
MAX_TOKEN_CHARS = 512
"""A real token is about 200 characters; anything much longer is refused before any work."""

_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class StateClaims:
    """What the signed state carries through the EMP and back."""

    transfer_id: str
    session_id: str
    emp_id: str
    expires_at: int
    """Epoch seconds; the state is refused from this moment on."""
    protocol: ProtocolVersion = ProtocolVersion.EMREX_1
    browser: str = ""
    """EMREX 2.0: the flow cookie's hash (``core.emrex2.flow_cookie_hash``); empty for EMREX 1, whose
    cross-site POST back cannot carry a SameSite cookie."""


def is_state_key_id(value: str) -> bool:
    """Whether ``value`` can name a state key (1-32 characters of ``[A-Za-z0-9_-]``)."""
    return _KEY_ID_RE.fullmatch(value) is not None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not _B64URL_RE.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid(message: str) -> EmrexError:
    return EmrexError(ErrorCode.STATE_INVALID, message)


class UnknownStateKey(EmrexError):
    """``STATE_INVALID`` because the token names a (well-formed) key id the signer does not have."""

    def __init__(self, key_id: str) -> None:
        super().__init__(ErrorCode.STATE_INVALID, "the state parameter was signed with an unknown key")
        self.key_id = key_id


class StateSigner:
    """Signs and verifies :class:`StateClaims` with HMAC-SHA256 keys identified by a key id."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        if not keys:
            raise ValueError("at least one state key is required")
        for key_id, key in keys.items():
            if not is_state_key_id(key_id):
                raise ValueError(f"state key id {key_id!r} must be 1-32 characters of [A-Za-z0-9_-]")
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"state key {key_id!r} must be at least {MIN_KEY_BYTES} bytes")
        if current_key_id not in keys:
            raise ValueError(f"current state key id {current_key_id!r} is not among the configured keys")
        self._keys = dict(keys)
        self._current_key_id = current_key_id

    def sign(self, claims: StateClaims) -> str:
        values: list[str | int] = [claims.transfer_id, claims.session_id, claims.emp_id, claims.expires_at]
        if claims.protocol is not ProtocolVersion.EMREX_1 or claims.browser:
            values += [claims.protocol.value, claims.browser]
        payload = json.dumps(values, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        signed_part = f"{self._current_key_id}.{_b64url(payload)}"
        return f"{signed_part}.{self._mac(self._current_key_id, signed_part)}"

    def verify(self, token: str, *, now: int) -> StateClaims:
        """Return the claims of a genuine, unexpired token.

        Raises ``EmrexError(STATE_INVALID)`` for anything malformed, an unknown key id (as
        :class:`UnknownStateKey` when the key id is well-formed) or a wrong MAC, and
        ``EmrexError(STATE_EXPIRED)`` once ``now >= expires_at``.
        """
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise _invalid("the state parameter is missing or has an invalid length")
        parts = token.split(".")
        if len(parts) != 3:
            raise _invalid("the state parameter is malformed")
        key_id, payload_part, mac_part = parts
        if key_id not in self._keys:
            if is_state_key_id(key_id):
                raise UnknownStateKey(key_id)
            raise _invalid("the state parameter was signed with an unknown key")
        expected = self._mac(key_id, f"{key_id}.{payload_part}")
        if not hmac.compare_digest(expected.encode("ascii"), mac_part.encode("utf-8", "replace")):
            raise _invalid("the state parameter's signature does not match")
        claims = _decode_claims(payload_part)
        if now >= claims.expires_at:
            raise EmrexError(ErrorCode.STATE_EXPIRED, "the transfer has expired; please start again")
        return claims

    def _mac(self, key_id: str, signed_part: str) -> str:
        digest = hmac.new(self._keys[key_id], signed_part.encode("utf-8"), hashlib.sha256).digest()
        return _b64url(digest)


def _decode_claims(payload_part: str) -> StateClaims:
    try:
        data: Any = json.loads(_b64url_decode(payload_part))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid("the state parameter's claims cannot be decoded") from exc
    if not (
        isinstance(data, list)
        and len(data) in {4, 6}
        and all(isinstance(item, str) for item in (*data[:3], *data[4:]))
        and isinstance(data[3], int)
        and not isinstance(data[3], bool)
        and (len(data) == 4 or data[4] in _PROTOCOLS)
    ):
        raise _invalid("the state parameter's claims have an unexpected shape")
    claims = StateClaims(transfer_id=data[0], session_id=data[1], emp_id=data[2], expires_at=data[3])
    if len(data) == 4:
        return claims
    return replace(claims, protocol=ProtocolVersion(data[4]), browser=data[5])


_PROTOCOLS = frozenset(protocol.value for protocol in ProtocolVersion)
