"""Fixtures shared by the whole suite."""

import pytest


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
