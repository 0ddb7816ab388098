"""Serving a request on one of the two surfaces, with the surface's one error mapping applied in one place.

Pages (students' browsers) and the API (the enrolment system) differ only in how a refusal looks
(``web.errors``). A handler passes the work to do; every ``EmrexError`` it raises becomes that surface's
answer, and anything unexpected becomes ``INTERNAL_ERROR`` (the details go to the log, never to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.transfer import TransferRefused
from emrex_emc.web.http import HttpRequest, HttpResponse
from emrex_emc.web.i18n import pick_language

logger = logging.getLogger(__name__)

Work = Callable[[HttpRequest], HttpResponse]
Report = Callable[[EmrexError], None]
"""Told of every refusal (metrics, logs): the code and a message without personal data."""


def serve_page(event: dict[str, Any], work: Work, report: Report) -> dict[str, Any]:
    accept_language = str((event.get("headers") or {}).get("accept-language") or "")
    try:
        return work(HttpRequest.from_apigw(event)).to_apigw()
    except EmrexError as error:
        report(error)
        return refusal_page(error, accept_language).to_apigw()
    except Exception:
        logger.exception("request failed")
        internal = EmrexError(ErrorCode.INTERNAL_ERROR, "the request failed on our side")
        report(internal)
        return refusal_page(internal, accept_language).to_apigw()


def serve_api(event: dict[str, Any], work: Work, report: Report) -> dict[str, Any]:
    try:
        return work(HttpRequest.from_apigw(event)).to_apigw()
    except EmrexError as error:
        report(error)
        return _json_error(error)
    except Exception:
        logger.exception("request failed")
        internal = EmrexError(ErrorCode.INTERNAL_ERROR, "the request could not be completed")
        report(internal)
        return _json_error(internal)


def _json_error(error: EmrexError) -> dict[str, Any]:
    from emrex_emc.web.errors import json_error  # refusals only: not loaded at a cold start that succeeds

    return json_error(error).to_apigw()


def refusal_page(error: EmrexError, accept_language: str) -> HttpResponse:
    """The page for a refusal: in the transfer's language when it is known, with the way back when there is one."""
    # refusals only: not loaded at a cold start that succeeds
    from emrex_emc.web.errors import Link, error_page, page_of
    from emrex_emc.web.outcome import return_link

    transfer = error.transfer if isinstance(error, TransferRefused) else None
    lang = pick_language(transfer.locale if transfer else None, accept_language)
    link = None
    if transfer is not None and page_of(error.code).back_to_chooser:
        link = Link(transfer.id, "link.back_to_chooser")  # relative: /start/{id}
    elif transfer is not None and isinstance(error, TransferRefused) and error.back_with is not None:
        link = Link(return_link(transfer.return_url, transfer.id, error.back_with.value), "back")
    return error_page(error, lang=lang, link=link, transfer_id=transfer.id if transfer else None)
