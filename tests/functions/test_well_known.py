"""Our EMREX 2.0 identity, published by start_session: the EMREG client record and the JWK Set (KMS keys)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from emrex_emc.adapters.kms_keys import KmsClientKeys
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.local.jose_signing import verified_jwt_claims
from start_session import handler as start
from tests.functions.conftest import CLIENT_ID, AwsEnv, ClientKeyEnv, apigw_event, create_client_key, rewired
from tests.lambda_context import LAMBDA_CONTEXT

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


fresh_handler = rewired(start)


def get(path: str) -> dict[str, Any]:
    event = apigw_event("GET", path, route_key=f"GET {path}", headers={"accept": "application/json"})
    return start.handler(event, LAMBDA_CONTEXT)  # type: ignore[no-any-return]


def pem(der: bytes) -> str:
    return load_der_public_key(der).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def test_the_emreg_client_record(client_key: ClientKeyEnv) -> None:
    response = get("/.well-known/emreg-client.json")
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response["headers"]["cache-control"] == "public, max-age=300"
    assert json.loads(response["body"]) == {
        "clientId": CLIENT_ID,
        "redirectUri": "https://emc.example/callback",  # EMREX_PUBLIC_BASE_URL, never the request's Host
        "name": "Test University EMC",
        "country": "NL",
        "publicKey": pem(client_key.public_key),
    }


def test_the_jwks_publishes_the_kms_public_key_with_its_kid(client_key: ClientKeyEnv) -> None:
    response = get("/.well-known/jwks.json")
    (jwk,) = json.loads(response["body"])["keys"]
    numbers = load_der_public_key(client_key.public_key).public_numbers()  # type: ignore[union-attr]
    assert (jwk["kid"], jwk["kty"], jwk["alg"], jwk["use"]) == ("emc-key-1", "RSA", "RS256", "sig")
    assert int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big") == numbers.n  # type: ignore[union-attr]


def test_a_rollover_publishes_two_keys_and_the_record_shows_the_signing_one(
    client_key: ClientKeyEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    next_id, next_public = create_client_key(client_key.kms)
    monkeypatch.setenv("EMREX_CLIENT_KEYS", f"emc-key-1={client_key.key_id},emc-key-2={next_id}")
    assert [jwk["kid"] for jwk in json.loads(get("/.well-known/jwks.json")["body"])["keys"]] == [
        "emc-key-1",
        "emc-key-2",
    ]
    assert json.loads(get("/.well-known/emreg-client.json")["body"])["publicKey"] == pem(client_key.public_key)
    start.reset()
    monkeypatch.setenv("EMREX_CLIENT_KEYS", f"emc-key-2={next_id},emc-key-1={client_key.key_id}")  # the switch
    assert json.loads(get("/.well-known/emreg-client.json")["body"])["publicKey"] == pem(next_public)


def test_without_emrex2_configuration_there_is_no_record(aws_env: AwsEnv) -> None:
    assert get("/.well-known/emreg-client.json")["statusCode"] == 404
    assert get("/.well-known/jwks.json")["statusCode"] == 404


def test_the_keys_are_published_before_a_client_id_is_registered(
    client_key: ClientKeyEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMREX_CLIENT_ID")
    assert get("/.well-known/emreg-client.json")["statusCode"] == 404
    assert len(json.loads(get("/.well-known/jwks.json")["body"])["keys"]) == 1


def test_kms_signs_raw_rs256_that_an_emp_verifies_with_the_published_key(client_key: ClientKeyEnv) -> None:
    from emrex_emc.core.emrex2 import client_assertion_input
    from emrex_emc.core.jose import compact_jwt

    keys = KmsClientKeys(client_key.kms, [("emc-key-1", client_key.key_id)])
    signing_input = client_assertion_input(client_id=CLIENT_ID, token_url="https://emp/token", key_id="k", now=100)
    claims = verified_jwt_claims(compact_jwt(signing_input, keys.sign(signing_input)), keys.public_keys()[0][1])
    assert claims["iss"] == claims["sub"] == CLIENT_ID and claims["exp"] - claims["iat"] == 300


def test_an_unusable_kms_key_is_client_key_unavailable(client_key: ClientKeyEnv) -> None:
    keys = KmsClientKeys(client_key.kms, [("emc-key-1", "alias/none")])
    for call in (lambda: keys.sign(b"x"), keys.public_keys):
        with pytest.raises(EmrexError) as caught:
            call()
        assert caught.value.code is ErrorCode.CLIENT_KEY_UNAVAILABLE
