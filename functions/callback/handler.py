"""Lambda: ``POST /callback?state=…``, the EMP's answer (wiring only; the work is in services.callback).

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
from emrex_emc.adapters.outcomes import OutcomeStore
from emrex_emc.adapters.secrets import SecretProvider
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.observability import logger, metrics, milliseconds, report_callback, report_refusal
from emrex_emc.services.callback import CallbackService
from emrex_emc.services.ports import Clock, IdFactory, StateTokens
from emrex_emc.services.secret_keys import RotatingStateSigner
from emrex_emc.settings import Settings
from emrex_emc.web.callback import callback_post
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.i18n import pick_language
from emrex_emc.web.outcome import ReturnLink, outcome_page
from emrex_emc.web.surface import serve_page


def build_service(
    settings: Settings,
    *,
    dynamodb: Any,
    s3: Any,
    states: StateTokens,
    clock: Clock = time.time,
    new_event_id: IdFactory = lambda: str(uuid.uuid4()),
) -> CallbackService:
    """The callback's wiring on the given clients (the benchmark and the frozen-bytes test use it too)."""
    return CallbackService(
        settings=settings,
        transfers=TransferTable(dynamodb, settings.table_name),
        outcomes=OutcomeStore(
            dynamodb,
            settings.table_name,
            event_bus_name=settings.event_bus_name,
            retention_days=settings.retention_days,
        ),
        evidence=BlobStore(s3, settings.bucket_name),
        states=states,
        clock=clock,
        new_event_id=new_event_id,
    )


@cache
def _wiring() -> tuple[Settings, CallbackService]:
    settings = Settings.from_env(function="callback")
    secret = SecretProvider(
        client("secretsmanager"), settings.secret_name, max_age_seconds=settings.secret_max_age_seconds
    )
    states = RotatingStateSigner(secret)
    return settings, build_service(settings, dynamodb=client("dynamodb"), s3=client("s3"), states=states)


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    _wiring.cache_clear()


def _receive(request: HttpRequest) -> HttpResponse:
    started = time.perf_counter()
    settings, service = _wiring()
    result = service.receive(callback_post(request, max_body_bytes=settings.max_body_bytes))
    report_callback(result, milliseconds=(time.perf_counter() - started) * 1000)
    transfer = result.transfer
    lang = pick_language(transfer.locale, request.headers.get("accept-language"))
    link = ReturnLink(transfer.return_url, transfer.id, result.outcome.status.value)
    return outcome_page(result.outcome, lang=lang, transfer_id=transfer.id, link=link)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    response = serve_page(event, _receive, report_refusal)
    milliseconds("CallbackLatency", (time.perf_counter() - started) * 1000)
    return response
