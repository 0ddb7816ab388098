"""Double-submit CSRF tokens for the chooser form (pure: keys are passed in).

The cookie holds a random token; the form's hidden field holds ``{kid}.{HMAC(key, transfer id | token)}``.
A cross-site page can make the browser send the cookie but can neither read it nor compute the field.
The keys are derived from the state keys under their own context, so a CSRF field can never be
confused with a state MAC, and they rotate with them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Protocol

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_CONTEXT = b"emrex-emc/csrf/v1"


class CsrfTokens(Protocol):
    """What the chooser needs: :class:`CsrfGuard`, or one that follows a rotating secret."""

    def new_cookie_token(self) -> str: ...

    def is_cookie_token(self, value: str | None) -> bool: ...

    def field_value(self, transfer_id: str, cookie_token: str) -> str: ...

    def check(self, transfer_id: str, cookie_token: str | None, field_value: str | None) -> bool: ...


class CsrfGuard:
    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        self._keys = {kid: hmac.new(key, _CONTEXT, hashlib.sha256).digest() for kid, key in keys.items()}
        self._current = current_key_id

    @staticmethod
    def new_cookie_token() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def is_cookie_token(value: str | None) -> bool:
        return value is not None and _TOKEN_RE.fullmatch(value) is not None

    def field_value(self, transfer_id: str, cookie_token: str) -> str:
        return f"{self._current}.{self._mac(self._current, transfer_id, cookie_token)}"

    def check(self, transfer_id: str, cookie_token: str | None, field_value: str | None) -> bool:
        if not self.is_cookie_token(cookie_token) or not field_value:
            return False
        kid, _, mac = field_value.partition(".")
        if kid not in self._keys:
            return False
        expected = self._mac(kid, transfer_id, cookie_token or "")
        return hmac.compare_digest(expected.encode(), mac.encode("utf-8", "replace"))

    def _mac(self, kid: str, transfer_id: str, cookie_token: str) -> str:
        return hmac.new(self._keys[kid], f"{transfer_id}|{cookie_token}".encode(), hashlib.sha256).hexdigest()
