"""Lambda: the enrolment API (``POST /sessions``, ``GET /sessions/{id}``,
``GET /applicants/{applicant_id}/sessions``), bearer-token protected.

Wiring only: the body and the answers are in ``web.enrolment`` and ``web.applicants``, the use cases in
``services.enrolment``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.secrets import SecretProvider, function_secret
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.observability import correlate, count, logger, metrics, report_refusal
from emrex_emc.services.enrolment import EnrolmentService
from emrex_emc.settings import Settings
from emrex_emc.web.applicants import applicant_id_of, applicant_transfers
from emrex_emc.web.enrolment import authorize, created, enrolment_request, transfer_status
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.routes import APPLICANT_TRANSFERS, CREATE_TRANSFER, GET_TRANSFER
from emrex_emc.web.surface import serve_api


@cache
def _wiring() -> tuple[Settings, EnrolmentService, SecretProvider]:
    settings = Settings.from_env(function="enrolment_api")
    secret = function_secret(client("secretsmanager"), settings)
    transfers = TransferTable(client("dynamodb"), settings.table_name)
    service = EnrolmentService(
        transfers=transfers, applicants=transfers, session_ttl_seconds=settings.session_ttl_seconds, clock=time.time
    )
    return settings, service, secret


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    _wiring.cache_clear()


def _answer(request: HttpRequest) -> HttpResponse:
    if request.route_key not in {CREATE_TRANSFER.key, GET_TRANSFER.key, APPLICANT_TRANSFERS.key}:
        raise EmrexError(ErrorCode.NOT_FOUND, "no such route")
    settings, service, secret = _wiring()
    authorize(request, secret.current().api_tokens())
    if request.route_key == APPLICANT_TRANSFERS.key:
        applicant_id = applicant_id_of(request)
        return applicant_transfers(applicant_id, service.of_applicant(applicant_id), now=service.now())
    if request.route_key == GET_TRANSFER.key:
        transfer = service.get(request.path_params.get("id", ""))
        return transfer_status(transfer, now=service.now())
    today = datetime.fromtimestamp(service.now(), UTC).date()
    enrolment = enrolment_request(
        request, allowed_return_urls=settings.allowed_return_urls, local_mode=settings.local_mode, today=today
    )
    transfer = service.create(enrolment)
    correlate(transfer.id)
    count("TransferCreated")
    return created(transfer, base_url=settings.public_base_url or request.base_url())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_api(event, _answer, report_refusal)
