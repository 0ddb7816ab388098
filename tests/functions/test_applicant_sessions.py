"""``GET /applicants/{applicant_id}/sessions`` (enrolment token): the applicant's transfers from the index."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from emrex_emc.adapters.erasure import TransferEraser
from emrex_emc.core.transfer import Transfer
from enrolment_api import handler as enrolment_handler
from tests.functions.callback_helpers import trusted_emp
from tests.functions.conftest import AwsEnv, apigw_event, rewired
from tests.lambda_context import LAMBDA_CONTEXT

APPLICANT = "uni:7/a+b"


fresh_handler = rewired(enrolment_handler)


def listing(path: str, token: str | None) -> dict[str, Any]:
    event = apigw_event(
        "GET",
        f"/applicants/{path}/sessions",
        route_key="GET /applicants/{applicant_id}/sessions",
        path_params={"applicant_id": path},
        headers={"authorization": f"Bearer {token}"} if token else {},
    )
    response: dict[str, Any] = enrolment_handler.handler(event, LAMBDA_CONTEXT)
    return response


def test_lists_the_applicants_transfers_newest_first_without_personal_data(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    now = int(time.time())
    expired = make_transfer(applicant_id=APPLICANT, now=now - 7200)
    chosen = make_transfer(applicant_id=APPLICANT, now=now, emp=trusted_emp())
    make_transfer(applicant_id="someone-else", now=now)
    erased = make_transfer(applicant_id=APPLICANT, now=now - 60)
    TransferEraser(aws_env.dynamodb, aws_env.s3, aws_env.table, aws_env.bucket).erase(
        erased.id, now=now, keep_until=now
    )

    response = listing(quote(APPLICANT, safe=""), aws_env.api_token)

    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert answer["applicant_id"] == APPLICANT
    assert [(s["id"], s["status"]) for s in answer["sessions"]] == [(chosen.id, "pending"), (expired.id, "expired")]
    emp = trusted_emp()
    assert answer["sessions"][0]["emp"] == {"id": emp.id, "name": emp.name, "country": "NO", "url": emp.url}
    assert answer["sessions"][1] == {
        "id": expired.id,
        "status": "expired",
        "emp": None,
        "created_at": expired.created_at,
    }
    assert "Nordmann" not in response["body"] and "1998" not in response["body"]


def test_an_unknown_applicant_has_no_transfers(aws_env: AwsEnv) -> None:
    response = listing("nobody", aws_env.api_token)
    assert (response["statusCode"], json.loads(response["body"])["sessions"]) == (200, [])


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("admin", 401), ("wrong-wrong-wrong-wrong", 401)])
def test_only_the_enrolment_token_lists(aws_env: AwsEnv, token: str | None, status: int) -> None:
    response = listing("A-1", aws_env.admin_token if token == "admin" else token)
    assert response["statusCode"] == status


def test_an_invalid_applicant_id_is_refused(aws_env: AwsEnv) -> None:
    response = listing("a%20b", aws_env.api_token)
    assert (response["statusCode"], json.loads(response["body"])["error"]["field"]) == (400, "applicant_id")
