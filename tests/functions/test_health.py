"""``GET /health`` in the deployed API (start_session): the registry snapshot's age, nothing secret."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from emrex_emc.adapters.registry_store import SNAPSHOT_PK, RegistryStore
from emrex_emc.core.registry import RegistrySnapshot
from start_session import handler as start_handler
from tests.functions.callback_helpers import trusted_emp
from tests.functions.conftest import AwsEnv, apigw_event, rewired
from tests.lambda_context import LAMBDA_CONTEXT

fresh_handler = rewired(start_handler)


def health() -> tuple[int, dict[str, Any], dict[str, str]]:
    response = start_handler.handler(apigw_event("GET", "/health", route_key="GET /health"), LAMBDA_CONTEXT)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def store(env: AwsEnv, age: timedelta) -> None:
    snapshot = RegistrySnapshot(fetched_at=datetime.now(UTC) - age, source="https://r.example", emps=(trusted_emp(),))
    RegistryStore(env.dynamodb, env.table).save(snapshot)


def test_ok_with_the_snapshot_age_and_nothing_secret(aws_env: AwsEnv) -> None:
    store(aws_env, timedelta(minutes=5))
    status, body, headers = health()
    assert status == 200 and headers["cache-control"] == "no-store"
    assert body["status"] == "ok"
    assert body["registry"]["emp_count"] == 1 and 290 <= body["registry"]["age_seconds"] <= 400
    assert body["registry"]["max_age_seconds"] == 86400
    text = json.dumps(body)
    for secret in (aws_env.api_token, aws_env.admin_token, aws_env.table, aws_env.secret, "r.example"):
        assert secret not in text


def test_a_stale_snapshot_is_unhealthy(aws_env: AwsEnv) -> None:
    store(aws_env, timedelta(days=2))
    status, body, _ = health()
    assert (status, body["status"]) == (503, "stale")


def test_no_snapshot_yet(aws_env: AwsEnv) -> None:
    status, body, _ = health()
    assert (status, body) == (503, {"status": "no_registry", "registry": {"max_age_seconds": 86400}})


def test_an_unreadable_snapshot(aws_env: AwsEnv) -> None:
    item = {"pk": {"S": SNAPSHOT_PK}, "format": {"S": "json+gzip"}, "snapshot": {"B": b"not gzip"}, "sha256": {"S": ""}}
    aws_env.dynamodb.put_item(TableName=aws_env.table, Item=item)
    status, body, _ = health()
    assert (status, body["status"]) == (503, "unavailable")


def test_health_never_reads_the_secret(aws_env: AwsEnv) -> None:
    store(aws_env, timedelta(minutes=1))
    aws_env.secretsmanager.put_secret_value(SecretId=aws_env.secret, SecretString="not json")
    assert health()[0] == 200
