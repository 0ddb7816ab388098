"""Helpers shared by the callback, relay and schema tests: signed payloads, API Gateway events, table reads."""

from __future__ import annotations

import base64
import datetime as dt
import json
from functools import cache
from typing import Any
from urllib.parse import urlencode

from emrex_emc.adapters.dynamodb import deserialize_item
from emrex_emc.core.registry import Emp, emp_id
from emrex_emc.core.state import StateClaims, StateSigner
from emrex_emc.core.transfer import Transfer
from emrex_emc.local.elmo_factory import (
    SignatureStyle,
    SigningIdentity,
    build_elmo,
    encode_elmo,
    generate_signing_identity,
    make_pdf,
    sign_elmo,
)

APPLICANT = {"given_names": "Kari", "family_name": "Nordmann", "birth_date": dt.date(1998, 4, 3)}


@cache
def emp_identity() -> SigningIdentity:
    return generate_signing_identity("emp.example.no signing")


@cache
def other_identity() -> SigningIdentity:
    return generate_signing_identity("attacker signing")


def trusted_emp() -> Emp:
    url = "https://emp.example.no/emrex"
    return Emp(
        id=emp_id("NO", url), name="Norwegian EMP", url=url, country="NO", certificates=(emp_identity().cert_der,)
    )


@cache
def signed_xml(
    courses: int = 3,
    with_pdf: bool = True,
    family_name: str = "Nordmann",
    style: SignatureStyle = "ds-sha256-exclusive",
) -> bytes:
    xml = build_elmo(
        given_names="Kari",
        family_name=family_name,
        birth_date=APPLICANT["birth_date"],
        courses=courses,
        pdf_bytes=make_pdf(3000) if with_pdf else None,
    )
    return sign_elmo(xml, emp_identity(), style=style)


def ok_payload(**kwargs: Any) -> str:
    return encode_elmo(signed_xml(**kwargs))


def state_for(signer: StateSigner, transfer: Transfer, *, expires_at: int | None = None) -> str:
    assert transfer.emrex_session_id and transfer.emp
    claims = StateClaims(
        transfer_id=transfer.id,
        session_id=transfer.emrex_session_id,
        emp_id=transfer.emp.id,
        expires_at=transfer.deadline if expires_at is None else expires_at,
    )
    return signer.sign(claims)


def callback_event(
    state: str | None,
    form: dict[str, str],
    *,
    base64_body: bool = False,
    accept_language: str = "en",
    raw_body: str | None = None,
) -> dict[str, Any]:
    body = urlencode(form) if raw_body is None else raw_body
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "POST /callback",
        "rawPath": "/callback",
        "rawQueryString": urlencode({"state": state}) if state is not None else "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "accept-language": accept_language,
            "host": "emc.example",
        },
        "requestContext": {"http": {"method": "POST", "path": "/callback", "sourceIp": "192.0.2.1"}, "requestId": "r1"},
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }
    if state is not None:
        event["queryStringParameters"] = {"state": state}
    return event


def form_for(transfer: Transfer, code: str, elmo: str = "", message: str = "") -> dict[str, str]:
    return {"sessionId": transfer.emrex_session_id or "", "returnCode": code, "returnMessage": message, "elmo": elmo}


def raw_item(dynamodb: Any, table: str, pk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True).get(
        "Item"
    )
    return item


def items_with_prefix(dynamodb: Any, table: str, prefix: str) -> list[dict[str, Any]]:
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return [deserialize_item(i) for i in items if i["pk"]["S"].startswith(prefix)]


def outbox_events(dynamodb: Any, table: str) -> list[tuple[str, dict[str, Any]]]:
    """(detail-type, detail) of every outbox row: exactly what the relay will publish."""
    return [
        (row["entry"]["DetailType"], json.loads(row["entry"]["Detail"]))
        for row in items_with_prefix(dynamodb, table, "OUTBOX#")
    ]


def s3_keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
