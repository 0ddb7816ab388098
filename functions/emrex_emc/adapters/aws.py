"""boto3 clients, created lazily once per process and reused across invocations.

Every adapter takes its client as a constructor argument (so tests inject moto-backed ones);
handlers get them from :func:`client`. ``AWS_ENDPOINT_URL`` (set by the local runner and the tests)
sends every client to moto without code changes.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=3,
        read_timeout=10,
    )
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints between moto servers)."""
    client.cache_clear()
