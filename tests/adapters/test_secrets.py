import base64
import json

import boto3
import pytest
from moto import mock_aws

from emrex_emc.adapters.secrets import SecretFormatError, load_secret_bundle, parse_secret_bundle
from emrex_emc.core.state import StateClaims

KEY1 = base64.b64encode(b"\x01" * 32).decode()
KEY2 = base64.b64encode(b"\x02" * 48).decode()
GOOD = {"state_keys": {"k1": KEY1, "k2": KEY2}, "state_key_id": "k2", "api_token": "t" * 24}


def test_load_from_secrets_manager_and_sign() -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        client.create_secret(Name="emrex", SecretString=json.dumps(GOOD))
        bundle = load_secret_bundle(client, "emrex")
    assert bundle.state_keys == {"k1": b"\x01" * 32, "k2": b"\x02" * 48}
    assert bundle.state_key_id == "k2"
    assert bundle.api_token == "t" * 24
    claims = StateClaims("a" * 32, "B" * 32, "no-1", 100)
    token = bundle.state_signer().sign(claims)
    assert token.startswith("k2.")
    assert bundle.state_signer().verify(token, now=99) == claims


def test_repr_hides_secret_material() -> None:
    text = repr(parse_secret_bundle(json.dumps(GOOD)))
    assert "t" * 24 not in text and KEY1 not in text and "\\x01" not in text


def test_binary_only_secret_is_refused() -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        client.create_secret(Name="emrex", SecretBinary=b"\x00")
        with pytest.raises(SecretFormatError, match="SecretString"):
            load_secret_bundle(client, "emrex")


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        ("not json", "JSON"),
        ("[]", "object"),
        (json.dumps({**GOOD, "state_keys": {}}), "state_keys"),
        (json.dumps({**GOOD, "state_keys": "x"}), "state_keys"),
        (json.dumps({**GOOD, "state_keys": {"k1": 5, "k2": KEY2}}), "base64 string"),
        (json.dumps({**GOOD, "state_keys": {"k1": "***", "k2": KEY2}}), "not valid base64"),
        (json.dumps({**GOOD, "state_keys": {"k1": base64.b64encode(b"short").decode(), "k2": KEY2}}), "32 bytes"),
        (json.dumps({**GOOD, "state_key_id": "k9"}), "state_key_id"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "state_key_id"}), "state_key_id"),
        (json.dumps({**GOOD, "api_token": "short"}), "api_token"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "api_token"}), "api_token"),
        (json.dumps({**GOOD, "state_keys": {"k.2": KEY2}, "state_key_id": "k.2"}), "k.2"),
    ],
)
def test_malformed_secrets_are_refused_with_a_clear_message(secret: str, fragment: str) -> None:
    with pytest.raises(SecretFormatError, match=fragment.replace(".", r"\.")):
        parse_secret_bundle(secret)
