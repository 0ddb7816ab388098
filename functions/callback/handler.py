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
from typing import TYPE_CHECKING, Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.blobs import BlobStore
from emrex_emc.adapters.outcomes import OutcomeStore
from emrex_emc.adapters.secrets import function_secret
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.observability import logger, metrics, milliseconds, report_callback, report_refusal
from emrex_emc.services.callback import CallbackService
from emrex_emc.services.ports import Clock, IdFactory, StateTokens
from emrex_emc.services.secret_keys import RotatingStateSigner
from emrex_emc.services.settle import CallbackPorts
from emrex_emc.settings import Settings
from emrex_emc.web.callback import callback_post, emp_redirect, flow_cookies_in, is_provider_answer, see_outcome
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.outcome import transfer_outcome_page
from emrex_emc.web.routes import CALLBACK
from emrex_emc.web.surface import serve_page

if TYPE_CHECKING:
    from emrex_emc.services.redirect_callback import RedirectCallbackService


def ports(
    settings: Settings,
    *,
    dynamodb: Any,
    s3: Any,
    states: StateTokens,
    clock: Clock = time.time,
    new_event_id: IdFactory = lambda: str(uuid.uuid4()),
) -> CallbackPorts:
    """The callback's ports on the given clients (the benchmarks and the frozen-bytes test use them too)."""
    outcomes = OutcomeStore(
        dynamodb, settings.table_name, event_bus_name=settings.event_bus_name, retention_days=settings.retention_days
    )
    transfers, evidence = TransferTable(dynamodb, settings.table_name), BlobStore(s3, settings.bucket_name)
    return CallbackPorts(settings, transfers, outcomes, evidence, states, clock, new_event_id)


@cache
def _wiring() -> tuple[Settings, CallbackPorts, CallbackService]:
    """Settings, the shared ports, and the EMREX 1 service (the one most callbacks need)."""
    settings = Settings.from_env(function="callback")
    secret = function_secret(client("secretsmanager"), settings)
    stores = ports(settings, dynamodb=client("dynamodb"), s3=client("s3"), states=RotatingStateSigner(secret))
    return settings, stores, CallbackService(stores)


@cache
def _emrex2() -> RedirectCallbackService:
    settings, stores, _ = _wiring()
    from emrex_emc.adapters.emp_http import EmpHttp  # httpx: only for EMREX 2.0 callbacks, not at cold start
    from emrex_emc.adapters.kms_keys import KmsClientKeys
    from emrex_emc.services.redirect_callback import RedirectCallbackService

    emp = EmpHttp(
        max_results_bytes=settings.decode_limits.max_decompressed_bytes, allow_loopback_http=settings.local_mode
    )
    return RedirectCallbackService(stores, keys=KmsClientKeys(client("kms"), settings.client_keys), emp=emp)


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    for wiring in (_wiring, _emrex2):
        wiring.cache_clear()


def _receive(request: HttpRequest) -> HttpResponse:
    started, (settings, _, service) = time.perf_counter(), _wiring()
    if request.route_key == CALLBACK.key:
        result = service.receive(callback_post(request, max_body_bytes=settings.max_body_bytes))
        report_callback(result, milliseconds=(time.perf_counter() - started) * 1000)
        return transfer_outcome_page(result.transfer, result.outcome, request.headers.get("accept-language"))
    base_url = settings.public_base_url  # configuration only: the redirect URI EMREG holds, never the Host
    if not is_provider_answer(request):
        shown = _emrex2().show(request.query.get("state", ""), flow_cookies_in(request, base_url=base_url))
        return transfer_outcome_page(shown.transfer, shown.outcome, request.headers.get("accept-language"))
    result = _emrex2().receive(emp_redirect(request, base_url=base_url))
    report_callback(result, milliseconds=(time.perf_counter() - started) * 1000)
    return see_outcome(base_url, request.query.get("state", ""))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    response = serve_page(event, _receive, report_refusal)
    milliseconds("CallbackLatency", (time.perf_counter() - started) * 1000)
    return response
