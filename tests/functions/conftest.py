"""Shared AWS fixtures (moto, in-process) for the Lambda handler tests.

``aws_env`` sets the environment the handlers read, starts ``mock_aws`` and creates the table (``pk``,
TTL on ``expires_at``, stream NEW_IMAGE), the bucket, the event bus and the secret. ``make_transfer``
stores a pending (optionally already-chosen) transfer and returns it.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emrex_emc.adapters.aws import reset_clients
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.core.protocol import Status, new_session_id, new_transfer_id
from emrex_emc.core.registry import Emp, emp_id
from emrex_emc.core.state import StateSigner
from emrex_emc.core.transfer import EmpRef, Transfer
from emrex_emc.local.moto_env import create_table

REGION = "eu-west-1"
TABLE = "emrex-test"
BUCKET = "emrex-test-bucket"
BUS = "emrex-test-bus"
SECRET = "emrex-test-secret"
API_TOKEN = "test-api-token-0123456789abcdef"
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
STATE_KEY_ID = "k2"
STATE_KEYS = {"k1": b"\x01" * 32, "k2": b"\x02" * 32}
ALLOWED_RETURN_URLS = "https://uni.example/enrol/,https://apply.uni.example/"


@dataclass
class AwsEnv:
    env: dict[str, str]
    dynamodb: Any
    s3: Any
    events: Any
    secretsmanager: Any
    table: str = TABLE
    bucket: str = BUCKET
    bus: str = BUS
    secret: str = SECRET
    api_token: str = API_TOKEN
    admin_token: str = ADMIN_TOKEN

    @property
    def signer(self) -> StateSigner:
        return StateSigner(STATE_KEYS, STATE_KEY_ID)

    @property
    def transfers(self) -> TransferTable:
        return TransferTable(self.dynamodb, self.table)


def secret_json() -> str:
    return json.dumps(
        {
            "state_keys": {kid: base64.b64encode(key).decode() for kid, key in STATE_KEYS.items()},
            "state_key_id": STATE_KEY_ID,
            "api_token": API_TOKEN,
            "admin_token": ADMIN_TOKEN,
        }
    )


def rewired(*handlers: Any) -> Any:
    """A test module's autouse fixture: ``handlers`` (Lambda handler modules) are wired anew for every test,
    so each sees its own environment (``fresh_handler = rewired(callback_handler)``)."""

    @pytest.fixture(autouse=True)
    def fresh_handlers() -> Iterator[None]:
        for handler in handlers:
            handler.reset()
        yield
        for handler in handlers:
            handler.reset()

    return fresh_handlers


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "EMREX_TABLE_NAME": TABLE,
        "EMREX_BUCKET_NAME": BUCKET,
        "EMREX_EVENT_BUS_NAME": BUS,
        "EMREX_SECRET_NAME": SECRET,
        "EMREX_ALLOWED_RETURN_URLS": ALLOWED_RETURN_URLS,
        "EMREX_PUBLIC_BASE_URL": "https://emc.example",
        "EMREX_LOCAL_MODE": "false",
        "POWERTOOLS_SERVICE_NAME": "emrex-test",
        "POWERTOOLS_METRICS_NAMESPACE": "EMREX",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_clients()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, TABLE)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name=BUS)
        secretsmanager = boto3.client("secretsmanager", region_name=REGION)
        secretsmanager.create_secret(Name=SECRET, SecretString=secret_json())
        yield AwsEnv(env=env, dynamodb=dynamodb, s3=s3, events=events, secretsmanager=secretsmanager)
    reset_clients()


CLIENT_ID = "emc-test-university"


@dataclass(frozen=True)
class ClientKeyEnv:
    """The EMREX 2.0 identity of the EMC under test: a moto KMS key (RSA 2048, SIGN_VERIFY) and its settings."""

    kms: Any
    key_id: str
    public_key: bytes
    """DER SubjectPublicKeyInfo."""
    kid: str = "emc-key-1"


def create_client_key(kms: Any) -> tuple[str, bytes]:
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY", Description="EMREX 2.0 test")["KeyMetadata"][
        "KeyId"
    ]
    return key_id, kms.get_public_key(KeyId=key_id)["PublicKey"]


@pytest.fixture
def client_key(aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> ClientKeyEnv:
    """EMREX 2.0 configured: client id, name, country and one KMS signing key (as the stack passes them)."""
    kms = boto3.client("kms", region_name=REGION)
    key_id, public_key = create_client_key(kms)
    values = {
        "EMREX_CLIENT_ID": CLIENT_ID,
        "EMREX_CLIENT_NAME": "Test University EMC",
        "EMREX_CLIENT_COUNTRY": "NL",
        "EMREX_CLIENT_KEYS": f"emc-key-1={key_id}",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    aws_env.env.update(values)
    return ClientKeyEnv(kms, key_id, public_key)


def sample_emp(country: str = "NO", name: str = "Norwegian EMP", url: str = "https://emp.example.no/emrex") -> Emp:
    return Emp(
        id=emp_id(country, url),
        name=name,
        url=url,
        country=country,
        certificates=(b"\x30\x82der-one", b"\x30\x82der-two"),
    )


def new_transfer(*, now: int | None = None, ttl: int = 1800, locale: str = "en", **changes: Any) -> Transfer:
    """A pending transfer (not stored); ``changes`` override any field."""
    now = int(time.time()) if now is None else now
    transfer = Transfer(
        id=new_transfer_id(),
        applicant_id="A-1001",
        given_names="Kari",
        family_name="Nordmann",
        birth_date="1998-04-03",
        return_url="https://uni.example/enrol/done",
        locale=locale,
        status=Status.PENDING,
        created_at=datetime.fromtimestamp(now, UTC).isoformat(),
        deadline=now + ttl,
        expires_at=now + ttl + 86400,
    )
    return replace(transfer, **changes)


@pytest.fixture
def make_transfer(aws_env: AwsEnv) -> Callable[..., Transfer]:
    """Store a transfer. ``chosen=True`` (or an ``emp=``) also records an EMP choice like POST /start does."""

    def _make(*, chosen: bool = False, emp: Emp | None = None, **kwargs: Any) -> Transfer:
        transfer = new_transfer(**kwargs)
        if chosen or emp is not None:
            emp = emp or sample_emp()
            transfer = replace(
                transfer,
                start_used=True,
                emrex_session_id=new_session_id(),
                emp=EmpRef.of(emp),
                pinned_certs=emp.certificates,
            )
        aws_env.transfers.create(transfer)
        return transfer

    return _make


def apigw_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    path_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: str | bytes = "",
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the real service and the local emulator send it."""
    raw_body = body.decode("utf-8") if isinstance(body, bytes) else body
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {"host": "api.example", "x-forwarded-proto": "https", **(headers or {})},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "192.0.2.10"},
            "requestId": "req-1",
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_params:
        event["pathParameters"] = dict(path_params)
    if cookies:
        event["cookies"] = list(cookies)
    return event


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = {k: v for k, v in vars(record).items() if k not in {"args", "exc_info", "exc_text", "stack_info"}}
        self.lines.append(json.dumps({**fields, "message": record.getMessage()}, default=str))


@pytest.fixture
def captured_logs() -> Iterator[list[str]]:
    """Every record (message and extra fields, as JSON lines) logged by the handlers and the emrex_emc package."""
    collector = _Collector()
    from callback import handler as callback_handler
    from enrolment_api import handler as enrolment_handler
    from start_session import handler as start_handler

    # Handler loggers are named after POWERTOOLS_SERVICE_NAME as it was when the module was imported.
    names = {"emrex_emc", *(module.logger.name for module in (callback_handler, enrolment_handler, start_handler))}
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(collector)
    yield collector.lines
    for logger in loggers:
        logger.removeHandler(collector)
