"""Fixtures shared by the whole suite."""

from collections.abc import Iterator

import pytest
from hypothesis import settings
from moto import mock_aws

# No timing in tests: hypothesis' per-example deadline would make property tests fail on a busy CI machine.
settings.register_profile("emrex", deadline=None)
settings.load_profile("emrex")


@pytest.fixture(autouse=True)
def _fresh_powertools_metrics():
    """Powertools keeps one metric buffer per process; start and end every test with it empty.

    Without this, metrics a test adds without flushing (e.g. a service called directly) leak into the
    next test that asserts on what a handler emitted.
    """
    from aws_lambda_powertools import Metrics

    Metrics(namespace="EMREX").clear_metrics()
    yield
    Metrics(namespace="EMREX").clear_metrics()


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process moto with fake credentials (and never a real or local endpoint)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield
