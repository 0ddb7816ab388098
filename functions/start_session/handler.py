"""Lambda: the student's pages: ``GET /start/{id}`` (the EMP chooser), ``POST /start/{id}`` (-> the EMP),
``GET /health`` (the registry snapshot's age) and every other path (a styled "not found" page;
``/favicon.ico`` gets an empty answer).

Stays light at cold start: no lxml, signxml or httpx on any path and no S3 client (checked by tests).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.registry_store import FreshRegistry, RegistryStore
from emrex_emc.adapters.secrets import SecretProvider
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.transfer import TransferRefused
from emrex_emc.observability import count, logger, metrics, report_refusal
from emrex_emc.services.secret_keys import RotatingCsrfGuard, RotatingStateSigner
from emrex_emc.services.start import StartService
from emrex_emc.settings import Settings
from emrex_emc.web.health import health_response
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.i18n import pick_language
from emrex_emc.web.routes import CHOOSE, CHOOSER, FAVICON, HEALTH
from emrex_emc.web.start import choice_form, chooser_response, redirect_response
from emrex_emc.web.surface import serve_page


@cache
def _registry() -> tuple[Settings, RegistryStore]:
    """What /health needs (not the secret: a health check never reads it)."""
    settings = Settings.from_env(function="start_session")
    # the only AWS clients: DynamoDB (transfers, registry snapshot), Secrets Manager
    return settings, RegistryStore(client("dynamodb"), settings.table_name)


@cache
def _wiring() -> tuple[Settings, StartService, RotatingCsrfGuard]:
    settings, store = _registry()
    secret = SecretProvider(
        client("secretsmanager"), settings.secret_name, max_age_seconds=settings.secret_max_age_seconds
    )
    service = StartService(
        transfers=TransferTable(client("dynamodb"), settings.table_name),
        states=RotatingStateSigner(secret),
        registry=FreshRegistry(store, max_age_seconds=settings.registry_max_age_seconds),
        clock=time.time,
    )
    return settings, service, RotatingCsrfGuard(secret)


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    _registry.cache_clear()
    _wiring.cache_clear()


def _page(request: HttpRequest) -> HttpResponse:
    if request.route_key == FAVICON.key:
        return HttpResponse(204, headers={"cache-control": "public, max-age=86400"})
    if request.route_key == HEALTH.key:
        return _health(*_registry())
    if request.route_key not in {CHOOSER.key, CHOOSE.key}:
        raise EmrexError(ErrorCode.NOT_FOUND, "there is no page at this address")
    settings, service, csrf = _wiring()
    transfer_id, base_url = request.path_params.get("id", ""), settings.public_base_url or request.base_url()
    accept_language = request.headers.get("accept-language")
    if request.route_key == CHOOSER.key:
        offer = service.offer(transfer_id)
        lang = pick_language(offer.transfer.locale, accept_language)
        return chooser_response(request, offer, csrf=csrf, base_url=base_url, lang=lang, now=int(time.time()))
    transfer = service.find(transfer_id)
    if transfer is None:
        raise EmrexError(ErrorCode.SESSION_NOT_FOUND, "no transfer with this id")
    try:
        emp_id = choice_form(request, csrf=csrf, transfer_id=transfer.id, base_url=base_url)
    except EmrexError as error:
        raise TransferRefused(error, transfer) from error
    choice = service.choose(transfer_id, emp_id)
    logger.set_correlation_id(choice.transfer.id)
    count("EmpChosen")
    return redirect_response(choice, base_url=base_url, lang=pick_language(choice.transfer.locale, accept_language))


def _health(settings: Settings, store: RegistryStore) -> HttpResponse:
    now, max_age = datetime.now(UTC), settings.registry_max_age_seconds
    try:
        return health_response(store.load(), now=now, max_age_seconds=max_age)
    except EmrexError:
        return health_response(None, now=now, max_age_seconds=max_age, unreadable=True)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_page(event, _page, report_refusal)
