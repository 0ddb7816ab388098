"""Signer, CSRF guard and bearer tokens on a cached secret that rotates (a real SecretProvider on a stub
client that counts the Secrets Manager reads, and a test clock)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from emrex_emc.adapters.secrets import SecretProvider
from emrex_emc.core.csrf import CsrfGuard
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.state import StateClaims, StateSigner, UnknownStateKey
from emrex_emc.services.secret_keys import RotatingCsrfGuard, RotatingStateSigner
from emrex_emc.web.enrolment import authorize
from emrex_emc.web.http import HttpRequest
from tests.clock import ManualClock

K1, K2, K3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
TOKEN, NEW_TOKEN = "current-token-0123456789", "rotated-token-0123456789"
NOW = 1_800_000_000
CLAIMS = StateClaims("a" * 32, "B" * 32, "no-1", NOW + 600)
COOKIE = "C" * 43


def secret(keys: dict[str, bytes], signing: str, **tokens: str) -> dict[str, Any]:
    encoded = {kid: base64.b64encode(key).decode() for kid, key in keys.items()}
    return {"state_keys": encoded, "state_key_id": signing, "api_token": TOKEN, **tokens}


BEFORE = secret({"k1": K1, "k2": K2}, "k2")
AFTER = secret({"k2": K2, "k3": K3}, "k3")  # rotated: k3 signs, k2 still verifies


class StubSecretsManager:
    def __init__(self, content: dict[str, Any]) -> None:
        self.content = content
        self.reads = 0

    def get_secret_value(self, **kwargs: str) -> dict[str, str]:
        self.reads += 1
        return {"SecretString": json.dumps(self.content)}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(0.0)


@pytest.fixture
def stub() -> StubSecretsManager:
    return StubSecretsManager(BEFORE)


@pytest.fixture
def source(stub: StubSecretsManager, clock: ManualClock) -> SecretProvider:
    return SecretProvider(stub, "emrex", max_age_seconds=300, clock=clock)


# --- state ---------------------------------------------------------------------------------------------


def test_a_state_signed_with_a_newly_rotated_key_is_accepted_after_one_re_read(
    source: SecretProvider, stub: StubSecretsManager
) -> None:
    signer = RotatingStateSigner(source)
    stub.content = AFTER
    token = StateSigner({"k3": K3}, "k3").sign(CLAIMS)  # from an instance that read the rotated secret
    assert signer.verify(token, now=NOW) == CLAIMS
    assert stub.reads == 2
    assert signer.sign(CLAIMS).startswith("k3.")  # and this instance now signs with the new key too


def test_signing_switches_to_the_new_key_after_max_age(
    source: SecretProvider, stub: StubSecretsManager, clock: ManualClock
) -> None:
    signer = RotatingStateSigner(source)
    old_state = signer.sign(CLAIMS)
    assert old_state.startswith("k2.")
    stub.content = AFTER
    clock.now += 300
    assert signer.sign(CLAIMS).startswith("k3.")
    assert signer.verify(old_state, now=NOW) == CLAIMS  # k2 still verifies after the rotation


def test_forged_key_ids_cost_at_most_one_read_per_30_seconds(
    source: SecretProvider, stub: StubSecretsManager, clock: ManualClock
) -> None:
    signer = RotatingStateSigner(source)
    forged = StateSigner({"kx": b"\x09" * 32}, "kx").sign(CLAIMS)
    for _ in range(50):
        with pytest.raises(UnknownStateKey):
            signer.verify(forged, now=NOW)
        clock.now += 0.5
    assert stub.reads == 2  # the first read plus one early re-read in 25 s
    clock.now += 5
    with pytest.raises(UnknownStateKey):
        signer.verify(forged, now=NOW)
    assert stub.reads == 3


@pytest.mark.parametrize(
    "token",
    [
        "k2.e30.wrong-mac",  # known key id, wrong MAC
        "k2." + StateSigner({"k2": K3}, "k2").sign(CLAIMS).split(".", 1)[1],  # k2's id, another key
        "not a token",
        "k.e30",
        "k!.e30.abc",  # a key id that cannot be one
        "x" * 600,
    ],
)
def test_forgeries_under_known_or_malformed_key_ids_never_re_read(
    source: SecretProvider, stub: StubSecretsManager, token: str
) -> None:
    with pytest.raises(EmrexError) as info:
        RotatingStateSigner(source).verify(token, now=NOW)
    assert info.value.code is ErrorCode.STATE_INVALID
    assert stub.reads == 1


def test_an_expired_state_under_a_new_key_is_still_expired(source: SecretProvider, stub: StubSecretsManager) -> None:
    stub.content = AFTER
    token = StateSigner({"k3": K3}, "k3").sign(CLAIMS)
    with pytest.raises(EmrexError) as info:
        RotatingStateSigner(source).verify(token, now=CLAIMS.expires_at)
    assert info.value.code is ErrorCode.STATE_EXPIRED


# --- CSRF ------------------------------------------------------------------------------------------------


def test_a_csrf_field_under_a_new_key_is_accepted_after_one_re_read(
    source: SecretProvider, stub: StubSecretsManager
) -> None:
    guard = RotatingCsrfGuard(source)
    stub.content = AFTER
    field = CsrfGuard({"k3": K3}, "k3").field_value("t" * 32, COOKIE)  # rendered by a refreshed instance
    assert guard.check("t" * 32, COOKIE, field) is True
    assert stub.reads == 2
    assert guard.field_value("t" * 32, COOKIE) == field


def test_csrf_forgeries_re_read_only_for_unknown_key_ids_and_at_most_once_per_30_s(
    source: SecretProvider, stub: StubSecretsManager, clock: ManualClock
) -> None:
    guard = RotatingCsrfGuard(source)
    genuine = guard.field_value("t" * 32, COOKIE)
    assert guard.check("t" * 32, COOKIE, genuine) is True
    assert guard.check("u" * 32, COOKIE, genuine) is False  # another transfer: wrong MAC under k2
    assert guard.check("t" * 32, "short", genuine) is False  # not a cookie token
    assert guard.check("t" * 32, COOKIE, "k!.abc") is False
    assert guard.check("t" * 32, COOKIE, None) is False
    assert stub.reads == 1
    for _ in range(20):
        assert guard.check("t" * 32, COOKIE, "kx." + "0" * 64) is False
        clock.now += 1
    assert stub.reads == 2


def test_the_rotating_guard_keeps_the_cookie_helpers() -> None:
    token = RotatingCsrfGuard.new_cookie_token()
    assert RotatingCsrfGuard.is_cookie_token(token) and not RotatingCsrfGuard.is_cookie_token("x")


# --- bearer tokens -----------------------------------------------------------------------------------------


def test_the_api_token_and_during_a_rollover_the_previous_one(
    source: SecretProvider, stub: StubSecretsManager, clock: ManualClock
) -> None:
    def accepts(token: str) -> bool:
        request = HttpRequest("GET", "/sessions/x", {"authorization": f"Bearer {token}"})
        try:
            authorize(request, source.current().api_tokens())
        except EmrexError:
            return False
        return True

    assert accepts(TOKEN) and not accepts(NEW_TOKEN)
    stub.content = {**BEFORE, "api_token": NEW_TOKEN, "api_token_previous": TOKEN}
    assert not accepts(NEW_TOKEN)  # not before the cached secret is max_age old
    clock.now += 300
    assert accepts(NEW_TOKEN) and accepts(TOKEN)
    stub.content = {**BEFORE, "api_token": NEW_TOKEN}
    clock.now += 300
    assert accepts(NEW_TOKEN) and not accepts(TOKEN)
    assert not accepts("") and not accepts(NEW_TOKEN[:-1])
    assert stub.reads == 3  # a wrong token never causes a read
