"""boto3 clients, created lazily once per process and reused across invocations.

Every adapter takes its client as a constructor argument (so tests inject moto-backed ones);
handlers get them from :func:`client`. ``AWS_ENDPOINT_URL`` (set by the local runner and the tests)
sends every client to moto without code changes.

All clients come from ONE boto3 session: botocore then reads its endpoint and service catalogues once
instead of once per client (about 60 ms less per extra client at cold start, docs/PERFORMANCE.md). A
session is not thread-safe, so client creation is serialized; the clients themselves are.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

_lock = threading.Lock()
_TIMEOUTS: dict[str, tuple[int, int, int]] = {"kms": (2, 3, 2)}
"""(connect, read, attempts) where the default (3 s, 10 s, 3) is too long: KMS signs inside an EMREX 2.0
callback whose calls share a 15 s budget."""


@cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    from botocore.config import Config

    connect, read, attempts = _TIMEOUTS.get(service, (3, 10, 3))
    config = Config(retries={"max_attempts": attempts, "mode": "standard"}, connect_timeout=connect, read_timeout=read)
    with _lock:
        return _session().client(service, config=config)


def reset_clients() -> None:
    """Forget cached clients and their session (tests switch endpoints between moto servers)."""
    client.cache_clear()
    _session.cache_clear()
