import base64
import json

import pytest

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.state import MAX_TOKEN_CHARS, StateClaims, StateSigner, UnknownStateKey

KEYS = {"k1": b"\x11" * 32, "k2": b"\x22" * 32}
NOW = 1_800_000_000
CLAIMS = StateClaims(
    transfer_id="0123456789abcdef0123456789abcdef",
    session_id="AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    emp_id="no-0123456789",
    expires_at=NOW + 1800,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _code(signer: StateSigner, token: str, now: int = NOW) -> ErrorCode:
    with pytest.raises(EmrexError) as info:
        signer.verify(token, now=now)
    return info.value.code


def test_round_trip() -> None:
    signer = StateSigner(KEYS, "k2")
    token = signer.sign(CLAIMS)
    assert token.startswith("k2.")
    assert signer.verify(token, now=NOW) == CLAIMS


def test_token_is_url_safe_and_short() -> None:
    token = StateSigner(KEYS, "k1").sign(CLAIMS)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert len(token) < 250
    # the whole returnUrl with a longish base URL stays well under 1,000 characters
    assert len(f"https://emrex-client.admissions.university.example/callback?state={token}") < 400


def test_expiry() -> None:
    signer = StateSigner(KEYS, "k1")
    token = signer.sign(CLAIMS)
    assert signer.verify(token, now=CLAIMS.expires_at - 1) == CLAIMS
    assert _code(signer, token, now=CLAIMS.expires_at) is ErrorCode.STATE_EXPIRED
    assert _code(signer, token, now=CLAIMS.expires_at + 3600) is ErrorCode.STATE_EXPIRED


def test_rotation_old_tokens_verify_with_new_current_key() -> None:
    old_token = StateSigner(KEYS, "k1").sign(CLAIMS)
    rotated = StateSigner({**KEYS, "k3": b"\x33" * 32}, "k3")
    assert rotated.verify(old_token, now=NOW) == CLAIMS
    assert rotated.sign(CLAIMS).startswith("k3.")


def test_retired_key_id_is_rejected() -> None:
    token = StateSigner(KEYS, "k1").sign(CLAIMS)
    assert _code(StateSigner({"k2": KEYS["k2"]}, "k2"), token) is ErrorCode.STATE_INVALID


def test_same_key_id_different_secret_is_rejected() -> None:
    token = StateSigner(KEYS, "k1").sign(CLAIMS)
    assert _code(StateSigner({"k1": b"\x99" * 32}, "k1"), token) is ErrorCode.STATE_INVALID


def test_tampering_each_part_is_rejected() -> None:
    signer = StateSigner(KEYS, "k1")
    kid, payload, mac = signer.sign(CLAIMS).split(".")
    forged_claims = _b64(json.dumps([CLAIMS.transfer_id, CLAIMS.session_id, "xx-evil", CLAIMS.expires_at]).encode())
    later = _b64(json.dumps([CLAIMS.transfer_id, CLAIMS.session_id, CLAIMS.emp_id, CLAIMS.expires_at + 9999]).encode())
    flipped_payload = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    flipped_mac = ("A" if mac[0] != "A" else "B") + mac[1:]
    for token in [
        f"k2.{payload}.{mac}",  # other (known) key id
        f"{kid}.{forged_claims}.{mac}",
        f"{kid}.{later}.{mac}",
        f"{kid}.{flipped_payload}.{mac}",
        f"{kid}.{payload}.{flipped_mac}",
        f"{kid}.{payload}.{mac[:-1]}",
        f"{kid}.{payload}.{mac}A",
        f"{kid}.{payload}.{mac}=",
        f"{kid}.{payload}.",
        f"{kid}.{payload}",
        f"{kid}.{payload}.{mac}.x",
        f"{kid}..{mac}",
        f".{payload}.{mac}",
        f"{kid}.{payload}.{mac.replace('-', '+').replace('_', '/')}" if ("-" in mac or "_" in mac) else "x.y.z",
        "",
        "garbage",
    ]:
        assert _code(signer, token) is ErrorCode.STATE_INVALID, token


def test_forged_mac_over_bad_claims_never_reaches_claim_parsing() -> None:
    # a payload that is not even base64 must be refused as a MAC failure, not a decoding crash
    signer = StateSigner(KEYS, "k1")
    with pytest.raises(EmrexError) as info:
        signer.verify("k1.!!!notbase64!!!.AAAA", now=NOW)
    assert info.value.code is ErrorCode.STATE_INVALID
    assert "signature" in info.value.message


@pytest.mark.parametrize(
    "claims_json",
    [b"not json", b"{}", b"[1,2,3,4]", b'["a","b","c"]', b'["a","b","c","1"]', b'["a","b","c",true]', b"null"],
)
def test_correctly_signed_but_malformed_claims_are_rejected(claims_json: bytes) -> None:
    import hashlib
    import hmac

    payload = _b64(claims_json)
    mac = _b64(hmac.new(KEYS["k1"], f"k1.{payload}".encode(), hashlib.sha256).digest())
    assert _code(StateSigner(KEYS, "k1"), f"k1.{payload}.{mac}") is ErrorCode.STATE_INVALID


def test_overlong_token_is_rejected() -> None:
    assert _code(StateSigner(KEYS, "k1"), "k1." + "A" * MAX_TOKEN_CHARS + ".AAAA") is ErrorCode.STATE_INVALID


@pytest.mark.parametrize(
    ("keys", "current"),
    [({}, "k1"), ({"k1": b"short"}, "k1"), ({"k1": b"\x00" * 32}, "k2"), ({"bad.id": b"\x00" * 32}, "bad.id")],
)
def test_misconfiguration_is_refused(keys: dict[str, bytes], current: str) -> None:
    with pytest.raises(ValueError):
        StateSigner(keys, current)


def test_an_unknown_well_formed_key_id_is_told_apart_from_a_forgery() -> None:
    token = StateSigner({"k9": b"\x99" * 32}, "k9").sign(CLAIMS)
    with pytest.raises(UnknownStateKey) as info:
        StateSigner(KEYS, "k1").verify(token, now=NOW)
    assert info.value.key_id == "k9" and info.value.code is ErrorCode.STATE_INVALID
    forged = "k1." + token.split(".", 1)[1]  # a known key id, another key's MAC
    with pytest.raises(EmrexError) as forged_info:
        StateSigner(KEYS, "k1").verify(forged, now=NOW)
    assert not isinstance(forged_info.value, UnknownStateKey)
    bad_id = "k!9." + token.split(".", 1)[1]  # cannot be a key id: not "unknown", just malformed
    with pytest.raises(EmrexError) as bad_info:
        StateSigner(KEYS, "k1").verify(bad_id, now=NOW)
    assert not isinstance(bad_info.value, UnknownStateKey) and bad_info.value.code is ErrorCode.STATE_INVALID


def test_an_emrex2_state_binds_the_protocol_and_the_browser() -> None:
    from dataclasses import replace

    from emrex_emc.core.emrex2 import flow_cookie_hash
    from emrex_emc.core.protocol import ProtocolVersion

    signer = StateSigner(KEYS, "k1")
    claims = replace(CLAIMS, protocol=ProtocolVersion.EMREX_2, browser=flow_cookie_hash("cookie"))
    token = signer.sign(claims)
    assert signer.verify(token, now=NOW) == claims and len(token) < 320
    emrex1 = signer.sign(CLAIMS)
    assert json.loads(base64.urlsafe_b64decode(emrex1.split(".")[1] + "==")) == [
        CLAIMS.transfer_id,
        CLAIMS.session_id,
        CLAIMS.emp_id,
        CLAIMS.expires_at,
    ]  # unchanged for EMREX 1: states issued before the upgrade still verify
    assert signer.verify(emrex1, now=NOW).protocol is ProtocolVersion.EMREX_1


@pytest.mark.parametrize(
    "claims",
    [
        ["t", "s", "e", NOW + 10, "emrex-3", "h"],
        ["t", "s", "e", NOW + 10, "emrex-2"],
        ["t", "s", "e", NOW + 10, "emrex-2", 7],
    ],
)
def test_unknown_protocols_and_shapes_are_refused(claims: list[object]) -> None:
    import hashlib
    import hmac

    payload = _b64(json.dumps(claims).encode())
    mac = _b64(hmac.new(KEYS["k1"], f"k1.{payload}".encode(), hashlib.sha256).digest())
    assert _code(StateSigner(KEYS, "k1"), f"k1.{payload}.{mac}") is ErrorCode.STATE_INVALID
