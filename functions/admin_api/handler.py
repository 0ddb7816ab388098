"""Lambda: the operators' API, ``DELETE /applicants/{applicant_id}`` (erasure), admin-token protected.

Its own function, so the permissions to delete transfers, evidence object versions and audit data belong to
no function that students or the enrolment system reach. Wiring only: the use case is
``services.erasure``, the HTTP side ``web.applicants``.
"""

from __future__ import annotations

import time
import uuid
from functools import cache
from typing import Any

from emrex_emc.adapters.aws import client
from emrex_emc.adapters.erasure import ErasureLog, TransferEraser
from emrex_emc.adapters.events import BusSender, EventPublisher
from emrex_emc.adapters.secrets import SecretProvider, function_secret
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.observability import count, logger, metrics, report_refusal
from emrex_emc.services.erasure import ErasureService
from emrex_emc.settings import Settings
from emrex_emc.web.applicants import applicant_id_of, authorize_admin, erased
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.routes import ERASE_APPLICANT
from emrex_emc.web.surface import serve_api


@cache
def _wiring() -> tuple[ErasureService, SecretProvider]:
    settings = Settings.from_env(function="admin_api")
    secret = function_secret(client("secretsmanager"), settings)
    dynamodb = client("dynamodb")
    service = ErasureService(
        transfers=TransferTable(dynamodb, settings.table_name),
        eraser=TransferEraser(dynamodb, client("s3"), settings.table_name, settings.bucket_name),
        audit=ErasureLog(dynamodb, settings.table_name, retention_days=settings.retention_days),
        events=BusSender(EventPublisher(client("events")), settings.event_bus_name),
        retention_days=settings.retention_days,
        clock=time.time,
        new_id=lambda: str(uuid.uuid4()),
    )
    return service, secret


def reset() -> None:
    """Forget the wiring (tests switch environments)."""
    _wiring.cache_clear()


def _answer(request: HttpRequest) -> HttpResponse:
    if request.route_key != ERASE_APPLICANT.key:
        raise EmrexError(ErrorCode.NOT_FOUND, "no such route")
    service, secret = _wiring()
    bundle = secret.current()
    authorize_admin(request, admin_tokens=bundle.admin_tokens(), enrolment_tokens=bundle.api_tokens())
    result = service.erase(applicant_id_of(request), request_id=request.request_id)
    count("TransfersErased", result.erased)
    logger.info("applicant erased", extra={"erased": result.erased, "session_ids": list(result.session_ids)})
    return erased(result.session_ids)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_api(event, _answer, report_refusal)
