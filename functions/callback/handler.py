"""Lambda entry point for ``POST /callback?state=…`` (thin: wiring, logging, metrics, last-resort errors).

Settings and clients are created once per process on first use; the secret is cached for
``EMREX_SECRET_MAX_AGE_SECONDS`` and re-read early for a state under a key id not seen yet. The trust
pipeline (lxml, signxml) is imported only when an OK payload is processed. Logs at INFO carry ids,
statuses and codes only, never names, birth dates or document content.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.blobs import BlobStore
from emrex_emc.adapters.outcomes import OutcomeStore
from emrex_emc.adapters.secrets import SecretProvider
from emrex_emc.adapters.sessions import SessionRepository
from emrex_emc.core.errors import ErrorCode
from emrex_emc.services.callback import CallbackResult, CallbackService
from emrex_emc.services.secret_keys import RotatingStateSigner
from emrex_emc.settings import Settings
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.layout import pick_language
from emrex_emc.web.outcome_pages import error_page, unavailable_page

NAMESPACE = "EMREX"
logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME (the function name)
metrics = Metrics(namespace=NAMESPACE)


@cache
def _service() -> CallbackService:
    settings = Settings.from_env()
    dynamodb = client("dynamodb")
    secret = SecretProvider(
        client("secretsmanager"), settings.secret_name, max_age_seconds=settings.secret_max_age_seconds
    )
    return CallbackService(
        settings=settings,
        sessions=SessionRepository(dynamodb, settings.table_name),
        outcomes=OutcomeStore(dynamodb, settings.table_name, retention_days=settings.retention_days),
        blobs=BlobStore(client("s3"), settings.bucket_name),
        signer=RotatingStateSigner(secret),
        clock=time.time,
    )


def reset() -> None:
    """Forget the cached wiring (tests switch environments)."""
    _service.cache_clear()


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    logger.append_keys(request_id=str((event.get("requestContext") or {}).get("requestId") or ""))
    accept_language = str((event.get("headers") or {}).get("accept-language") or "")
    try:
        request = HttpRequest.from_apigw(event)
    except ValueError:  # undecodable base64 body
        return _respond(error_page(ErrorCode.FORM_INVALID, lang=pick_language(None, accept_language)), started)
    try:
        result = _service().handle(request)
    except Exception:
        logger.exception("callback failed; nothing was recorded")
        metrics.add_metric(name="CallbackFailures", unit=MetricUnit.Count, value=1)
        return _respond(unavailable_page(pick_language(None, accept_language)), started)
    if result.transfer_id:
        logger.set_correlation_id(result.transfer_id)
    logger.info(
        "callback handled",
        status=result.status,
        error_code=result.error_code,
        recorded=result.recorded,
        replay=result.replay,
        emp_id=result.emp_id,
        http_status=result.response.status,
    )
    _emit_metrics(result)
    return _respond(result.response, started)


def _respond(response: HttpResponse, started: float) -> dict[str, Any]:
    metrics.add_metric(
        name="CallbackLatency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
    )
    return response.to_apigw()


def _emit_metrics(result: CallbackResult) -> None:
    emp = result.emp_id or "unknown"
    outcome = result.status or f"refused:{result.error_code}"
    if result.replay:
        outcome = "replay"
    _count("CallbackOutcome", {"outcome": outcome, "emp_id": emp})
    if result.status == "rejected" and not result.replay:
        # Alarmed on (service dimension only): many refusals mean an EMP key change or an attack.
        metrics.add_metric(name="VerificationFailures", unit=MetricUnit.Count, value=1)
    if result.signature_algorithm:
        _count("SignatureAlgorithm", {"algorithm": result.signature_algorithm, "emp_id": emp})
    if result.identity_verdict:
        _count("IdentityVerdict", {"verdict": result.identity_verdict, "emp_id": emp})


def _count(name: str, dimensions: dict[str, str]) -> None:
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)
