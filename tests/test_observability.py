"""The functions' logging: one JSON line per event, a correlation id only on its own request's lines."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

from emrex_emc.observability import correlate, logger
from tests.lambda_context import LAMBDA_CONTEXT


def lines(buffer: io.StringIO) -> dict[str, dict[str, Any]]:
    return {line["message"]: line for line in map(json.loads, buffer.getvalue().splitlines())}


def test_a_correlation_id_stays_on_its_own_request_while_another_runs_beside_it(log_lines: io.StringIO) -> None:
    """The local stack serves every function from one process, one thread per request."""
    first_correlated, second_done = threading.Event(), threading.Event()

    @logger.inject_lambda_context(clear_state=True)
    def first(event: dict[str, Any], context: Any) -> None:
        correlate("transfer-of-the-first")
        first_correlated.set()
        assert second_done.wait(10)
        logger.info("first, after the second ran")

    @logger.inject_lambda_context(clear_state=True)
    def second(event: dict[str, Any], context: Any) -> None:
        assert first_correlated.wait(10)
        logger.info("second, a refused request")
        second_done.set()

    threads = [threading.Thread(target=handler, args=({}, LAMBDA_CONTEXT)) for handler in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    logged = lines(log_lines)
    assert "correlation_id" not in logged["second, a refused request"]  # it carried the first's before
    assert logged["first, after the second ran"]["correlation_id"] == "transfer-of-the-first"


def test_the_next_invocation_on_the_same_thread_starts_without_it(log_lines: io.StringIO) -> None:
    @logger.inject_lambda_context(clear_state=True)
    def invocation(transfer_id: str | None, context: Any) -> None:
        if transfer_id:
            correlate(transfer_id)
        logger.info(f"handled {transfer_id}")

    invocation("t-1", LAMBDA_CONTEXT)
    invocation(None, LAMBDA_CONTEXT)
    logged = lines(log_lines)
    assert logged["handled t-1"]["correlation_id"] == "t-1"
    assert "correlation_id" not in logged["handled None"]
