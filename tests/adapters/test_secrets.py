import base64
import json

import boto3
import pytest
from moto import mock_aws

from emrex_emc.adapters.secrets import SecretProvider, load_secret_bundle
from emrex_emc.core.secret import SecretFormatError, parse_secret_bundle
from emrex_emc.core.state import StateClaims, StateSigner
from tests.clock import ManualClock

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
    signer = StateSigner(bundle.state_keys, bundle.state_key_id)
    token = signer.sign(claims)
    assert token.startswith("k2.")
    assert signer.verify(token, now=99) == claims


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
        ("[" * 100_000 + "]" * 100_000, "JSON"),
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


# --- api_token_previous ------------------------------------------------------------------------------------


def test_previous_api_token_is_optional_and_accepted_next_to_the_current() -> None:
    assert parse_secret_bundle(json.dumps(GOOD)).api_tokens() == ("t" * 24,)
    assert parse_secret_bundle(json.dumps({**GOOD, "api_token_previous": None})).api_tokens() == ("t" * 24,)
    bundle = parse_secret_bundle(json.dumps({**GOOD, "api_token_previous": "p" * 24}))
    assert bundle.api_tokens() == ("t" * 24, "p" * 24)
    assert "p" * 24 not in repr(bundle)


def test_the_admin_token_is_optional_and_apart_from_the_api_tokens() -> None:
    assert parse_secret_bundle(json.dumps(GOOD)).admin_tokens() == ()
    bundle = parse_secret_bundle(json.dumps({**GOOD, "admin_token": "a" * 24}))
    assert (bundle.admin_tokens(), bundle.api_tokens()) == (("a" * 24,), ("t" * 24,))
    assert "a" * 24 not in repr(bundle)
    with pytest.raises(SecretFormatError, match="admin_token") as info:
        parse_secret_bundle(json.dumps({**GOOD, "admin_token": "a" * 10}))
    assert "a" * 10 not in str(info.value)


SECRET_MATERIAL = ("t" * 24, "p" * 10, "q" * 30, KEY1, KEY2, "c2VjcmV0LXZhbHVl")


@pytest.mark.parametrize(
    ("secret", "field"),
    [
        ({**GOOD, "api_token": "p" * 10}, "api_token"),
        ({**GOOD, "api_token_previous": "p" * 10}, "api_token_previous"),
        ({**GOOD, "api_token_previous": 12345678901234567}, "api_token_previous"),
        ({**GOOD, "state_keys": {"k1": "c2VjcmV0LXZhbHVl", "k2": KEY2}}, "state_keys['k1']"),
        ({**GOOD, "state_keys": {"k1": KEY1 + "!", "k2": KEY2}}, "state_keys['k1']"),
        ({**GOOD, "state_key_id": "q" * 30}, "state_key_id"),
    ],
)
def test_malformed_secret_messages_name_the_field_and_hold_no_secret_material(secret: dict, field: str) -> None:
    with pytest.raises(SecretFormatError) as info:
        parse_secret_bundle(json.dumps(secret))
    message = str(info.value)
    assert message.startswith(field)
    assert not [value for value in SECRET_MATERIAL if value in message]


def test_a_huge_key_id_is_clipped_in_the_message() -> None:
    with pytest.raises(SecretFormatError) as info:
        parse_secret_bundle(json.dumps({**GOOD, "state_keys": {"x" * 5000: 5}}))
    assert len(str(info.value)) < 120


# --- SecretProvider: max age and the rate-limited early re-read ------------------------------------------


class CountingClient:
    """A secretsmanager client stand-in: answers with ``secret`` (JSON) and counts the reads."""

    def __init__(self, secret: dict) -> None:
        self.secret: dict | Exception = secret
        self.reads = 0

    def get_secret_value(self, **kwargs: str) -> dict:
        assert kwargs == {"SecretId": "emrex", "VersionStage": "AWSCURRENT"}
        self.reads += 1
        if isinstance(self.secret, Exception):
            raise self.secret
        return {"SecretString": json.dumps(self.secret)}


ROTATED = {**GOOD, "state_keys": {**GOOD["state_keys"], "k3": KEY1}, "state_key_id": "k3"}


def provider(client: CountingClient, clock: ManualClock, max_age: float = 300) -> SecretProvider:
    return SecretProvider(client, "emrex", max_age_seconds=max_age, clock=clock)


def test_the_secret_is_read_once_then_again_after_max_age() -> None:
    client, clock = CountingClient(GOOD), ManualClock()
    secrets = provider(client, clock)
    assert client.reads == 1  # at construction: a broken secret fails the first request
    client.secret = ROTATED
    clock.now += 299
    assert secrets.current().state_key_id == "k2" and client.reads == 1
    clock.now += 1
    assert secrets.current().state_key_id == "k3" and client.reads == 2
    assert secrets.current().state_key_id == "k3" and client.reads == 2


def test_max_age_of_one_second_is_honoured() -> None:
    client, clock = CountingClient(GOOD), ManualClock()
    secrets = provider(client, clock, max_age=1)
    client.secret = ROTATED
    clock.now += 1
    assert secrets.current().state_key_id == "k3"


def test_an_unknown_key_id_re_reads_at_most_once_per_30_seconds() -> None:
    client, clock = CountingClient(GOOD), ManualClock()
    secrets = provider(client, clock)
    assert secrets.refresh_for_unknown_key("forged") is False
    assert client.reads == 2
    for _ in range(100):
        clock.now += 0.25
        assert secrets.refresh_for_unknown_key("forged") is False
    assert client.reads == 2  # 25 s of forged key ids: no further read
    clock.now += 5
    client.secret = ROTATED
    assert secrets.refresh_for_unknown_key("k3") is True and client.reads == 3
    assert secrets.current().state_key_id == "k3"
    assert secrets.refresh_for_unknown_key("k3") is True and client.reads == 3  # known now: no read


def test_a_known_key_id_never_re_reads() -> None:
    client, clock = CountingClient(GOOD), ManualClock()
    secrets = provider(client, clock)
    assert secrets.refresh_for_unknown_key("k1") is True
    assert client.reads == 1


def test_a_failed_re_read_keeps_the_previous_secret_and_retries_later(caplog: pytest.LogCaptureFixture) -> None:
    client, clock = CountingClient(GOOD), ManualClock()
    secrets = provider(client, clock)
    client.secret = {**GOOD, "api_token": "short"}
    clock.now += 300
    assert secrets.current().state_key_id == "k2" and client.reads == 2
    assert "re-reading the secret failed" in caplog.text and "short" not in caplog.text
    clock.now += 29
    assert secrets.current().state_key_id == "k2" and client.reads == 2
    client.secret = ROTATED
    clock.now += 1
    assert secrets.current().state_key_id == "k3" and client.reads == 3


def test_a_missing_secret_fails_at_construction() -> None:
    client = CountingClient(GOOD)
    client.secret = RuntimeError("AccessDenied")
    with pytest.raises(RuntimeError, match="AccessDenied"):
        provider(client, ManualClock())


def test_provider_reads_the_current_version_from_moto() -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        client.create_secret(Name="emrex", SecretString=json.dumps(GOOD))
        clock = ManualClock()
        secrets = SecretProvider(client, "emrex", max_age_seconds=300, clock=clock)
        client.put_secret_value(SecretId="emrex", SecretString=json.dumps(ROTATED))
        assert secrets.refresh_for_unknown_key("k3") is True
        current = secrets.current()
        signer = StateSigner(current.state_keys, current.state_key_id)
        assert signer.sign(StateClaims("a" * 32, "B" * 32, "no-1", 100)).startswith("k3.")
