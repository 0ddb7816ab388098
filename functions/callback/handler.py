"""Lambda: ``/callback``, the EMP's answer (wiring only; the work is in services.callback and
services.redirect_callback). ``POST /callback?state=…``: an EMREX 1 auto-posted form. ``GET /callback``: an
EMREX 2.0 redirect back (``code`` or ``error``, answered with a 303 to ``/callback?state=…``) or that outcome page.

Settings, clients and the secret are loaded on the first request. The trust pipeline (lxml, signxml) is
imported only when an OK payload is verified. Logs carry ids, statuses and codes, never personal data.
"""

from __future__ import annotations

import time
import uuid
from functools import cache
from typing import Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.blobs import BlobStore
from emrex_emc.adapters.kms_keys import KmsClientKeys
from emrex_emc.adapters.outcomes import OutcomeStore
from emrex_emc.adapters.secrets import SecretProvider
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.observability import logger, metrics, milliseconds, observe_callback, report_refusal
from emrex_emc.services.callback import CallbackService
from emrex_emc.services.redirect_callback import RedirectCallbackService
from emrex_emc.services.secret_keys import RotatingStateSigner
from emrex_emc.services.settle import CallbackResult
from emrex_emc.settings import Settings
from emrex_emc.web.callback import callback_post, emp_redirect, flow_cookie, is_provider_answer, see_outcome
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.i18n import pick_language
from emrex_emc.web.outcome import ReturnLink, outcome_page
from emrex_emc.web.routes import CALLBACK
from emrex_emc.web.surface import serve_page


@cache
def _stores() -> tuple[Settings, dict[str, Any]]:
    settings = Settings.from_env(function="callback")
    dynamodb = client("dynamodb")
    secret = SecretProvider(
        client("secretsmanager"), settings.secret_name, max_age_seconds=settings.secret_max_age_seconds
    )
    return settings, {
        "settings": settings,
        "transfers": TransferTable(dynamodb, settings.table_name),
        "outcomes": OutcomeStore(
            dynamodb,
            settings.table_name,
            event_bus_name=settings.event_bus_name,
            retention_days=settings.retention_days,
        ),
        "evidence": BlobStore(client("s3"), settings.bucket_name),
        "states": RotatingStateSigner(secret),
        "clock": time.time,
        "new_event_id": lambda: str(uuid.uuid4()),
    }


@cache
def _wiring() -> CallbackService:
    return CallbackService(**_stores()[1])


@cache
def _emrex2() -> RedirectCallbackService:
    settings, stores = _stores()
    from emrex_emc.adapters.emp_http import EmpHttp  # httpx: only for EMREX 2.0 callbacks, not at cold start

    emp = EmpHttp(
        max_results_bytes=settings.decode_limits.max_decompressed_bytes, allow_loopback_http=settings.local_mode
    )
    return RedirectCallbackService(keys=KmsClientKeys(client("kms"), settings.client_keys), emp=emp, **stores)


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    for wiring in (_stores, _wiring, _emrex2):
        wiring.cache_clear()


def _receive(request: HttpRequest) -> HttpResponse:
    settings = _stores()[0]
    if request.route_key == CALLBACK.key:
        return _page(request, _wiring().receive(callback_post(request, max_body_bytes=settings.max_body_bytes)))
    base_url = settings.public_base_url  # configuration only: the redirect URI EMREG holds, never the Host
    if not is_provider_answer(request):
        return _page(request, _emrex2().show(request.query.get("state", ""), flow_cookie(request, base_url=base_url)))
    result = _emrex2().receive(emp_redirect(request, base_url=base_url))
    observe_callback(result)
    return see_outcome(base_url, request.query.get("state", ""))


def _page(request: HttpRequest, result: CallbackResult) -> HttpResponse:
    if request.route_key == CALLBACK.key:
        observe_callback(result)
    transfer = result.transfer
    lang = pick_language(transfer.locale, request.headers.get("accept-language"))
    return outcome_page(
        result.outcome, lang=lang, link=ReturnLink(transfer.return_url, transfer.id, result.outcome.status.value)
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    response = serve_page(event, _receive, report_refusal)
    milliseconds("CallbackLatency", (time.perf_counter() - started) * 1000)
    return response
