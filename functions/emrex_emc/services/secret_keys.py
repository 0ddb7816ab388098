"""The secret's keys and tokens as the services use them, following rotation.

The start and callback functions sign and verify states and CSRF fields with the classes here, built on a
:class:`SecretSource` (the cached secret, :class:`emrex_emc.adapters.secrets.SecretProvider`), so a rotated
secret is used without a cold start:

- signing (states, CSRF fields) always uses the current ``state_key_id``;
- a state or CSRF field naming a well-formed key id the cached secret lacks (signed by an instance that
  already read a newer secret) asks the source for one early, rate-limited re-read, then is checked again.
  A wrong MAC under a known key id never causes a re-read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from emrex_emc.core.csrf import CsrfGuard
from emrex_emc.core.secret import SecretBundle
from emrex_emc.core.state import StateClaims, StateSigner, UnknownStateKey, is_state_key_id
from emrex_emc.services.ports import SecretSource

T = TypeVar("T")


class _PerBundle(Generic[T]):
    """An object built from the current secret's state keys, rebuilt only when the secret was re-read."""

    def __init__(self, source: SecretSource, build: Callable[[Mapping[str, bytes], str], T]) -> None:
        self._source = source
        self._build = build
        self._built: tuple[SecretBundle, T] | None = None

    def get(self) -> T:
        bundle = self._source.current()
        built = self._built  # one read: another thread may replace it meanwhile
        if built is None or built[0] is not bundle:
            built = (bundle, self._build(bundle.state_keys, bundle.state_key_id))
            self._built = built
        return built[1]

    def knows(self, key_id: str) -> bool:
        return key_id in self._source.current().state_keys

    def after_refresh_for(self, key_id: str) -> T | None:
        """The object built from a secret that has ``key_id``, if an early re-read finds it; else None."""
        return self.get() if self._source.refresh_for_unknown_key(key_id) else None


class RotatingStateSigner:
    """:class:`StateSigner` on the current secret; an unknown key id gets one rate-limited re-read."""

    def __init__(self, source: SecretSource) -> None:
        self._signers = _PerBundle(source, StateSigner)

    def sign(self, claims: StateClaims) -> str:
        return self._signers.get().sign(claims)

    def verify(self, token: str, *, now: int) -> StateClaims:
        try:
            return self._signers.get().verify(token, now=now)
        except UnknownStateKey as unknown:
            signer = self._signers.after_refresh_for(unknown.key_id)
            if signer is None:
                raise
            return signer.verify(token, now=now)


class RotatingCsrfGuard:
    """:class:`CsrfGuard` on the current secret; a field under an unknown key id gets one re-read."""

    new_cookie_token = staticmethod(CsrfGuard.new_cookie_token)
    is_cookie_token = staticmethod(CsrfGuard.is_cookie_token)

    def __init__(self, source: SecretSource) -> None:
        self._guards = _PerBundle(source, CsrfGuard)

    def field_value(self, transfer_id: str, cookie_token: str) -> str:
        return self._guards.get().field_value(transfer_id, cookie_token)

    def check(self, transfer_id: str, cookie_token: str | None, field_value: str | None) -> bool:
        if self._guards.get().check(transfer_id, cookie_token, field_value):
            return True
        key_id = (field_value or "").partition(".")[0]
        if not self.is_cookie_token(cookie_token) or not is_state_key_id(key_id) or self._guards.knows(key_id):
            return False  # malformed, or a wrong MAC under a key we have: no re-read
        guard = self._guards.after_refresh_for(key_id)
        return guard is not None and guard.check(transfer_id, cookie_token, field_value)
