"""Lambda: the student's start link (``GET /start/{id}`` chooser, ``POST /start/{id}`` -> EMP).

Stays light at cold start: no lxml, signxml or httpx on any path and no S3 client (the registry snapshot
is a table item), checked by tests. Settings, clients, the signer and the registry store are created
lazily once per process; the secret is cached for ``EMREX_SECRET_MAX_AGE_SECONDS``.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.registry_store import RegistryStore, load_fresh
from emrex_emc.adapters.secrets import SecretProvider
from emrex_emc.adapters.sessions import SessionRepository
from emrex_emc.core.registry import RegistrySnapshot
from emrex_emc.services.secret_keys import RotatingCsrfGuard, RotatingStateSigner
from emrex_emc.services.start import StartService
from emrex_emc.settings import Settings
from emrex_emc.web.http import HttpRequest, HttpResponse, html_response
from emrex_emc.web.layout import pick_language
from emrex_emc.web.start_pages import message_page

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME (the function name)
metrics = Metrics(namespace="EMREX")
logging.getLogger("emrex_emc")
copy_config_to_registered_loggers(source_logger=logger, include={"emrex_emc"})
# a request that emits no metric is normal here, not worth a warning per invocation
warnings.filterwarnings("ignore", message="No application metrics to publish")

_START_PATH = re.compile(r"(?:^|/)start/(?P<id>[^/]+)/?$")


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@cache
def _service() -> StartService:
    settings = Settings.from_env()
    secret = SecretProvider(
        client("secretsmanager"), settings.secret_name, max_age_seconds=settings.secret_max_age_seconds
    )
    dynamodb = client("dynamodb")  # the only AWS clients: DynamoDB (transfers, registry snapshot), Secrets Manager
    store = RegistryStore(dynamodb, settings.table_name)

    def load_registry() -> RegistrySnapshot:
        return load_fresh(store, now=datetime.now(UTC), max_age_seconds=settings.registry_max_age_seconds)

    return StartService(
        sessions=SessionRepository(dynamodb, settings.table_name),
        signer=RotatingStateSigner(secret),
        csrf=RotatingCsrfGuard(secret),
        load_registry=load_registry,
        public_base_url=settings.public_base_url,
        clock=time.time,
        count=_count,
    )


def reset() -> None:
    """Forget the per-process service (tests change the environment between cases)."""
    _service.cache_clear()


def route(event: dict[str, Any], request: HttpRequest) -> tuple[str, str] | None:
    """``("chooser", id)`` or ``("choose", id)`` from the route key, else from method + path."""
    route_key = str(event.get("routeKey") or "")
    if route_key in {"GET /start/{id}", "POST /start/{id}"}:
        transfer_id = request.path_params.get("id", "")
    else:
        match = _START_PATH.search(request.path)
        if match is None:
            return None
        transfer_id = match.group("id")
    if request.method == "GET":
        return "chooser", transfer_id
    if request.method == "POST":
        return "choose", transfer_id
    return None


def _dispatch(request: HttpRequest, event: dict[str, Any]) -> HttpResponse:
    target = route(event, request)
    if target is None:
        return _page(request, 404, "not_found")
    action, transfer_id = target
    service = _service()
    if action == "chooser":
        return service.show_chooser(request, transfer_id)
    return service.choose(request, transfer_id)


def _page(request: HttpRequest, status: int, kind: str) -> HttpResponse:
    lang = pick_language(None, request.headers.get("accept-language"))
    return html_response(status, message_page(lang=lang, kind=kind))


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = HttpRequest.from_apigw(event)
    try:
        response = _dispatch(request, event)
    except Exception:  # one place for everything unexpected; details go to the log, not the student
        logger.exception("start page failure")
        _count("StartFailure")
        response = _page(request, 500, "unavailable")
    return response.to_apigw()
