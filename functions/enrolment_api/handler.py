"""Lambda: the enrolment API (``POST /sessions``, ``GET /sessions/{id}``), bearer-token protected.

Thin: routing, auth and error mapping here; the work is in :mod:`emrex_emc.services.enrolment`.
Settings and clients are created lazily once per process; the secret (the bearer tokens) is cached for
``EMREX_SECRET_MAX_AGE_SECONDS``.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.secrets import SecretProvider
from emrex_emc.adapters.sessions import SessionRepository
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.services.enrolment import EnrolmentService, unauthorized
from emrex_emc.services.secret_keys import ApiTokens
from emrex_emc.settings import Settings
from emrex_emc.web.http import HttpRequest, HttpResponse, json_error

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME (the function name)
metrics = Metrics(namespace="EMREX")
logging.getLogger("emrex_emc")
copy_config_to_registered_loggers(source_logger=logger, include={"emrex_emc"})
# a request that emits no metric is normal here, not worth a warning per invocation
warnings.filterwarnings("ignore", message="No application metrics to publish")

_SESSION_PATH = re.compile(r"(?:^|/)sessions/(?P<id>[^/]+)/?$")
_COLLECTION_PATH = re.compile(r"(?:^|/)sessions/?$")


@cache
def _service() -> EnrolmentService:
    settings = Settings.from_env()
    secret = SecretProvider(
        client("secretsmanager"), settings.secret_name, max_age_seconds=settings.secret_max_age_seconds
    )
    return EnrolmentService(
        sessions=SessionRepository(client("dynamodb"), settings.table_name),
        settings=settings,
        api_tokens=ApiTokens(secret),
        clock=time.time,
    )


def reset() -> None:
    """Forget the per-process service (tests change the environment between cases)."""
    _service.cache_clear()


def route(event: dict[str, Any], request: HttpRequest) -> tuple[str, str | None] | None:
    """``("create", None)`` or ``("get", id)`` from the API Gateway route key, else from method + path."""
    route_key = str(event.get("routeKey") or "")
    if route_key == "POST /sessions":
        return "create", None
    if route_key == "GET /sessions/{id}":
        return "get", request.path_params.get("id", "")
    if request.method == "POST" and _COLLECTION_PATH.search(request.path):
        return "create", None
    match = _SESSION_PATH.search(request.path)
    if request.method == "GET" and match:
        return "get", match.group("id")
    return None


def _dispatch(event: dict[str, Any]) -> HttpResponse:
    request = HttpRequest.from_apigw(event)
    target = route(event, request)
    if target is None:
        return json_error(404, ErrorCode.NOT_FOUND, "no such route")
    service = _service()
    if not service.authorized(request):
        logger.warning("enrolment API request refused: missing or wrong bearer token")
        metrics.add_metric(name="EnrolmentUnauthorized", unit=MetricUnit.Count, value=1)
        return unauthorized()
    action, transfer_id = target
    if action == "create":
        response = service.create(request)
        if response.status == 201:
            metrics.add_metric(name="TransferCreated", unit=MetricUnit.Count, value=1)
        else:
            logger.info("transfer not created", extra={"status": response.status})
        return response
    return service.get(transfer_id or "")


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        response = _dispatch(event)
    except EmrexError as error:
        logger.error("enrolment API error", extra={"code": error.code.value})
        response = json_error(500, error.code, "the request could not be completed")
    except Exception:  # one place for everything unexpected; details go to the log, not the client
        logger.exception("enrolment API failure")
        response = json_error(500, "INTERNAL_ERROR", "the request could not be completed")
    return response.to_apigw()
