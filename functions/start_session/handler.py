"""Lambda: the student's pages: ``GET /start/{id}`` (the EMP chooser), ``POST /start/{id}`` (-> the EMP),
``GET /health`` (the registry snapshot's age), our EMREX 2.0 identity (``/.well-known/emreg-client.json``,
``/.well-known/jwks.json``) and every other path (a styled "not found" page; ``/favicon.ico`` gets an empty
answer).

Stays light at cold start: no lxml, signxml or httpx on any path and no S3 client (checked by tests); the
KMS client and ``cryptography`` are loaded only for the well-known documents.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.registry_store import FreshRegistry, RegistryStore
from emrex_emc.adapters.secrets import function_secret
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.transfer import TransferRefused
from emrex_emc.observability import correlate, count, logger, metrics, report_refusal
from emrex_emc.services.secret_keys import RotatingCsrfGuard, RotatingStateSigner
from emrex_emc.services.start import StartService
from emrex_emc.settings import Settings
from emrex_emc.web.health import health_page
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.i18n import pick_language
from emrex_emc.web.routes import CHOOSE, CHOOSER, EMREG_CLIENT, FAVICON, HEALTH, JWKS
from emrex_emc.web.start import choice_form, chooser_response, redirect_response
from emrex_emc.web.surface import serve_page

if TYPE_CHECKING:
    from emrex_emc.adapters.kms_keys import KmsClientKeys


@cache
def _registry() -> tuple[Settings, RegistryStore]:
    """What /health needs (not the secret: a health check never reads it)."""
    settings = Settings.from_env(function="start_session")
    # the AWS clients: DynamoDB (transfers, registry snapshot), Secrets Manager; KMS for the well-known keys
    return settings, RegistryStore(client("dynamodb"), settings.table_name)


@cache
def _wiring() -> tuple[Settings, StartService, RotatingCsrfGuard]:
    settings, store = _registry()
    secret = function_secret(client("secretsmanager"), settings)
    service = StartService(
        transfers=TransferTable(client("dynamodb"), settings.table_name),
        states=RotatingStateSigner(secret),
        registry=FreshRegistry(store, max_age_seconds=settings.registry_max_age_seconds),
        clock=time.time,
        client=settings.client_identity,
    )
    return settings, service, RotatingCsrfGuard(secret)


@cache
def _client_keys() -> KmsClientKeys:
    from emrex_emc.adapters.kms_keys import KmsClientKeys  # only for the well-known documents

    return KmsClientKeys(client("kms"), _registry()[0].client_keys)


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    _registry.cache_clear()
    _wiring.cache_clear()
    _client_keys.cache_clear()


def _page(request: HttpRequest) -> HttpResponse:
    if request.route_key == FAVICON.key:
        return HttpResponse(204, headers={"cache-control": "public, max-age=86400"})
    if request.route_key == HEALTH.key:
        settings, store = _registry()
        return health_page(store.load, now=datetime.now(UTC), max_age_seconds=settings.registry_max_age_seconds)
    if request.route_key in {EMREG_CLIENT.key, JWKS.key}:
        from emrex_emc.web.well_known import well_known_response

        settings = _registry()[0]
        keys = (lambda: _client_keys().public_keys()) if settings.client_keys else None
        return well_known_response(request.route_key, settings.client_identity, keys)
    if request.route_key not in {CHOOSER.key, CHOOSE.key}:
        raise EmrexError(ErrorCode.NOT_FOUND, "there is no page at this address")
    settings, service, csrf = _wiring()
    transfer_id, base_url = request.path_params.get("id", ""), settings.public_base_url or request.base_url()
    accept_language = request.headers.get("accept-language")
    if request.route_key == CHOOSER.key:
        offer = service.offer(transfer_id)
        lang = pick_language(offer.transfer.locale, accept_language)
        return chooser_response(request, offer, csrf=csrf, base_url=base_url, lang=lang, now=int(time.time()))
    transfer = service.usable(transfer_id)
    try:
        emp_id = choice_form(request, csrf=csrf, transfer_id=transfer.id, base_url=base_url)
    except EmrexError as error:
        raise TransferRefused(error, transfer) from error
    choice = service.choose(transfer, emp_id)
    correlate(choice.transfer.id)
    count("EmpChosen")
    lang = pick_language(choice.transfer.locale, accept_language)
    return redirect_response(choice, base_url=base_url, lang=lang, now=int(time.time()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_page(event, _page, report_refusal)
