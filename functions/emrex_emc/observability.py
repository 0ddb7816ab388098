"""Logs and metrics of every function, set up once (Powertools), so all functions look alike in CloudWatch.

Every log line is JSON: Powertools' ``logger`` for the handlers, and the same formatter for the
``emrex_emc`` logger hierarchy that services and adapters log to (stdlib ``logging``, so they stay free of
Powertools). Handlers use ``@logger.inject_lambda_context(clear_state=True)``: cold start and request id
on every line, and nothing (a correlation id) carried over from the previous invocation. Metrics go to one
namespace; a refusal is counted as ``Refused`` with its error code as the dimension.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from emrex_emc.core.errors import EmrexError

if TYPE_CHECKING:
    from emrex_emc.services.settle import CallbackResult

NAMESPACE = "EMREX"

logger = Logger()  # the service name is the function's (POWERTOOLS_SERVICE_NAME)
metrics = Metrics(namespace=NAMESPACE)
logging.getLogger("emrex_emc")  # registered first, so its children (created later, on demand) inherit the format
copy_config_to_registered_loggers(source_logger=logger, include={"emrex_emc"})
# a request that emits no metric is normal (e.g. a replayed callback), not worth a warning per invocation
warnings.filterwarnings("ignore", message="No application metrics to publish")


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """A counter; with ``dimensions`` it goes out as its own metric (per-EMP dashboards, alarms)."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def milliseconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)


def report_refusal(error: EmrexError) -> None:
    """Count and log a refusal (code only: the message never holds personal data, but stays out of metrics)."""
    count("Refused", error_code=error.code.value)
    logger.info("request refused", error_code=error.code.value, detail=error.message)


def observe_callback(result: CallbackResult) -> None:
    """The log line and metrics of a handled callback, either protocol (ids, statuses and codes only)."""
    transfer, outcome = result.transfer, result.outcome
    emp = transfer.emp.id if transfer.emp else "unknown"
    logger.set_correlation_id(transfer.id)
    logger.info(
        "callback handled",
        status=outcome.status.value,
        error_code=outcome.error_code,
        recorded=result.recorded,
        replay=result.replay,
        emp_id=emp,
        protocol=transfer.protocol.value,
    )
    count("CallbackOutcome", outcome="replay" if result.replay else outcome.status.value, emp_id=emp)
    if result.recorded and outcome.error is not None:
        count("VerificationFailures")  # alarmed: many refusals mean an EMP key change or an attack
    if result.recorded and outcome.signature_algorithm:
        count("SignatureAlgorithm", algorithm=outcome.signature_algorithm, emp_id=emp)
    if result.recorded and outcome.identity_verdict:
        count("IdentityVerdict", verdict=outcome.identity_verdict, emp_id=emp)
