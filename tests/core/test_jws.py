"""The EMP's detached JWS over the results (RFC 7515 appendix F), RS256 only: every refusal has its code."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.jose import b64url, compact_jwt, jwt_signing_input
from emrex_emc.core.jws import public_key_der, rsa_jwk, verify_detached_jws
from emrex_emc.core.signature_facts import JwsFacts
from emrex_emc.core.text import is_clean
from emrex_emc.local.jose_signing import detached_jws

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SPKI = KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
BODY = b'<?xml version="1.0" encoding="UTF-8"?>\n<elmo xmlns="https://github.com/emrex-eu/elmo-schemas/tree/v1"/>'


def refused(jws: str | None, body: bytes = BODY, key: bytes = SPKI) -> EmrexError:
    with pytest.raises(EmrexError) as caught:
        verify_detached_jws(jws, body, key)
    assert is_clean(caught.value.message)
    return caught.value


def test_a_detached_rs256_jws_verifies() -> None:
    facts = verify_detached_jws(detached_jws(BODY, KEY, header={"alg": "RS256", "kid": "emp-2027"}), BODY, SPKI)
    assert facts == JwsFacts("RS256", hashlib.sha256(SPKI).hexdigest(), "emp-2027")


def test_a_large_body_is_hashed_in_chunks_with_the_same_result() -> None:
    body = bytes(range(256)) * 4099  # not a multiple of the chunk size, nor of 3
    assert verify_detached_jws(detached_jws(body, KEY), body, SPKI).algorithm == "RS256"
    assert refused(detached_jws(body, KEY), body[:-1]).code is ErrorCode.JWS_INVALID


@pytest.mark.parametrize("jws", [None, "", "   "])
def test_no_signature_is_jws_missing(jws: str | None) -> None:
    assert refused(jws).code is ErrorCode.JWS_MISSING


def test_a_changed_body_or_another_key_is_jws_invalid() -> None:
    assert refused(detached_jws(BODY, KEY), BODY.replace(b"v1", b"v2")).code is ErrorCode.JWS_INVALID
    assert refused(detached_jws(BODY, OTHER)).code is ErrorCode.JWS_INVALID


@pytest.mark.parametrize("algorithm", ["HS256", "none", "PS256", "RS512", "ES256", "rs256", None, 7])
def test_any_algorithm_but_rs256_is_refused(algorithm: Any) -> None:
    error = refused(detached_jws(BODY, KEY, header={"alg": algorithm}))
    assert error.code is ErrorCode.JWS_ALGORITHM_FORBIDDEN


def test_an_hmac_signature_made_with_the_public_key_is_refused() -> None:
    """The classic RS/HS confusion: HMAC keyed with the public key must never be accepted."""
    header = b64url(b'{"alg":"HS256"}')
    mac = hmac.HMAC(SPKI, hashes.SHA256())
    mac.update(f"{header}.{b64url(BODY)}".encode())
    assert refused(f"{header}..{b64url(mac.finalize())}").code is ErrorCode.JWS_ALGORITHM_FORBIDDEN


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ({"alg": "RS256", "b64": False, "crit": ["b64"]}, "unencoded payload"),
        ({"alg": "RS256", "crit": ["exp"]}, "critical"),
    ],
)
def test_unsupported_header_members_are_refused(header: dict[str, Any], fragment: str) -> None:
    error = refused(detached_jws(BODY, KEY, header=header))
    assert error.code is ErrorCode.JWS_MALFORMED and fragment in error.message


RS256_HEADER = b64url(b'{"alg":"RS256"}')
DUPLICATE_ALG = b64url(b'{"alg":"RS256","alg":"none"}')


@pytest.mark.parametrize(
    "jws",
    [
        "only.two",
        "a.b.c.d",
        b64url(b"not json") + "..AAAA",
        b64url(b"[1]") + "..AAAA",
        DUPLICATE_ALG + "..AAAA",
        "eyJ+bad..AAAA",
        RS256_HEADER + "..not*base64",
        b64url(b"{}" + b" " * 5000) + "..AAAA",
        b64url(b"[" * 1900 + b"]" * 1900) + "..AAAA",  # within the header cap, deeper than the JSON parser's stack
        "é" * 10,
        "a" * 20_000,
    ],
)
def test_malformed_values_are_refused(jws: str) -> None:
    assert refused(jws).code in {ErrorCode.JWS_MALFORMED, ErrorCode.JWS_ALGORITHM_FORBIDDEN}


def test_an_attached_payload_is_not_a_detached_jws() -> None:
    header, _, signature = detached_jws(BODY, KEY).partition("..")
    error = refused(f"{header}.{b64url(BODY)}.{signature}")
    assert error.code is ErrorCode.JWS_MALFORMED and "detached" in error.message


def test_a_signature_of_the_wrong_length_and_a_weak_key_are_refused() -> None:
    header, _, signature = detached_jws(BODY, KEY).partition("..")
    assert refused(f"{header}..{signature[:-4]}").code is ErrorCode.JWS_INVALID
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
    weak_spki = weak.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert refused(detached_jws(BODY, weak), key=weak_spki).code is ErrorCode.JWS_INVALID


def test_our_jwt_and_jwk_encodings() -> None:
    signing_input = jwt_signing_input({"alg": "RS256", "kid": "k"}, {"iss": "emc"})
    header, claims = (json.loads(base64.urlsafe_b64decode(p + "==")) for p in signing_input.decode().split("."))
    assert header == {"alg": "RS256", "kid": "k"} and claims == {"iss": "emc"}
    signature = KEY.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    assert compact_jwt(signing_input, signature).count(".") == 2 and "=" not in compact_jwt(signing_input, signature)
    jwk = rsa_jwk(SPKI, "emc-key-1")
    numbers = KEY.public_key().public_numbers()
    assert jwk["kid"] == "emc-key-1" and jwk["alg"] == "RS256" and jwk["use"] == "sig" and jwk["kty"] == "RSA"
    assert int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big") == numbers.n
    assert jwk["e"] == "AQAB"


def test_a_public_key_of_an_unknown_algorithm_is_a_value_error() -> None:
    from tests.core.test_registry_parse_emreg2 import UNKNOWN_ALGORITHM_KEY_PEM

    with pytest.raises(ValueError, match="algorithm we do not support"):
        public_key_der(UNKNOWN_ALGORITHM_KEY_PEM.encode())
    with pytest.raises(ValueError, match="algorithm we do not support"):
        public_key_der(base64.b64decode("".join(UNKNOWN_ALGORITHM_KEY_PEM.splitlines()[1:-1])))
