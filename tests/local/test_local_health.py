"""The local runner's readiness: /health says ok only once the registry refresh stored a snapshot item."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from emrex_emc.adapters.registry_store import RegistryStore
from emrex_emc.core.registry import RegistrySnapshot
from emrex_emc.local.moto_env import create_table
from emrex_emc.local.runner import _snapshot_present

TABLE = "local-health"


@pytest.fixture
def dynamodb(mocked_aws: None) -> Any:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    create_table(client, TABLE)
    return client


def test_no_snapshot_item_is_not_ready(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "SESSION#x"}})
    assert _snapshot_present(dynamodb, TABLE) is False


def test_a_stored_snapshot_is_ready(dynamodb: Any) -> None:
    RegistryStore(dynamodb, TABLE).save(RegistrySnapshot(fetched_at=datetime.now(UTC), source="local"))
    assert _snapshot_present(dynamodb, TABLE) is True


def test_an_unreachable_table_is_not_ready(dynamodb: Any) -> None:
    assert _snapshot_present(dynamodb, "no-such-table") is False
