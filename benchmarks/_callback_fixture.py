"""A pending transfer, a signed OK callback for it, and a real :class:`CallbackService` on in-memory AWS clients.

The fakes stand in for the boto3 clients (not for our adapters): the real ``TransferTable``,
``OutcomeStore`` and ``BlobStore`` run (DynamoDB (de)serialization, hashing, canonical JSON), only the
network round trips are gone. Every call models a fresh transfer: the session stays pending and S3
accepts every put, so the same request can be handled again and again.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from callback.handler import ports
from emrex_emc.adapters.sessions import transfer_to_item
from emrex_emc.core.identity import ExpectedIdentity
from emrex_emc.core.protocol import Status
from emrex_emc.core.registry import emp_id
from emrex_emc.core.state import StateClaims, StateSigner
from emrex_emc.core.transfer import EmpRef, Transfer
from emrex_emc.local.elmo_factory import build_elmo, encode_elmo, generate_signing_identity, make_pdf, sign_elmo
from emrex_emc.services.callback import CallbackService
from emrex_emc.settings import Settings
from emrex_emc.web.callback import callback_post
from emrex_emc.web.http import HttpRequest
from emrex_emc.web.outcome import transfer_outcome_page

BIRTH_DATE = dt.date(2001, 2, 3)
TRANSFER_ID = "b" * 32
SESSION_ID = "S" * 32
EMP_URL = "https://emp.example.no/emrex"
SETTINGS_ENV = {
    "EMREX_TABLE_NAME": "emrex",
    "EMREX_BUCKET_NAME": "emrex-bucket",
    "EMREX_EVENT_BUS_NAME": "emrex-bus",
    "EMREX_SECRET_NAME": "emrex-secret",
}


class InMemoryDynamoDB:
    """``get_item`` and ``transact_write_items`` as the adapters call them; writes are counted, not applied."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.transactions = 0

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.items.get(Key["pk"]["S"])
        return {"Item": item} if item is not None else {}

    def transact_write_items(self, *, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.transactions += 1
        return {}


class InMemoryS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[Key] = Body
        return {}


@dataclass(frozen=True)
class CallbackCase:
    service: CallbackService
    request: HttpRequest
    elmo: str
    """The ``elmo`` form value."""
    cert_der: bytes
    settings: Settings
    expected: ExpectedIdentity

    def handle(self) -> str:
        """What the callback handler does with the request: parse, receive, render the outcome page."""
        result = self.service.receive(callback_post(self.request, max_body_bytes=self.settings.max_body_bytes))
        transfer_outcome_page(result.transfer, result.outcome, "en")  # the handler's rendering
        return result.outcome.status.value

    def verify_only(self) -> Any:
        """The reference: the trust pipeline alone, with the arguments the service passes."""
        from emrex_emc.core.pipeline import verify_elmo

        return verify_elmo(
            self.elmo,
            [self.cert_der],
            self.settings.pipeline_policy,
            expected=self.expected,
            now=dt.datetime.now(dt.UTC),
            xsd_dir=self.settings.xsd_dir or None,
        )


def signed_elmo_value(courses: int, pdf_bytes: int) -> tuple[str, bytes]:
    """(``elmo`` form value, signing certificate DER) for a document of ``courses`` and a PDF of ``pdf_bytes``."""
    identity = generate_signing_identity("Benchmark EMP")
    xml = build_elmo(
        given_names="Anna Maria",
        family_name="de Vries",
        birth_date=BIRTH_DATE,
        courses=courses,
        pdf_bytes=make_pdf(pdf_bytes) if pdf_bytes else None,
    )
    return encode_elmo(sign_elmo(xml, identity, style="java-sha1-inclusive")), identity.cert_der


def form_body(elmo: str) -> bytes:
    return urlencode({"sessionId": SESSION_ID, "returnCode": "NCP_OK", "elmo": elmo}).encode("ascii")


def callback_case(elmo: str, cert_der: bytes) -> CallbackCase:
    settings = Settings.from_env(SETTINGS_ENV)
    now = int(time.time())
    emp = EmpRef(id=emp_id("NO", EMP_URL), name="Benchmark EMP", country="NO", url=EMP_URL)
    transfer = Transfer(
        id=TRANSFER_ID,
        applicant_id="applicant-1",
        given_names="Anna Maria",
        family_name="de Vries",
        birth_date=BIRTH_DATE.isoformat(),
        return_url="https://uni.example/return",
        locale="en",
        status=Status.PENDING,
        created_at="2026-01-01T00:00:00Z",
        deadline=now + 3600,
        expires_at=now + 90000,
        emrex_session_id=SESSION_ID,
        emp=emp,
        pinned_certs=(cert_der,),
    )
    dynamodb = InMemoryDynamoDB()
    dynamodb.items[f"SESSION#{TRANSFER_ID}"] = transfer_to_item(transfer)
    claims = StateClaims(transfer_id=TRANSFER_ID, session_id=SESSION_ID, emp_id=emp.id, expires_at=now + 3600)
    signer = StateSigner({"k1": b"k" * 32}, "k1")
    service = CallbackService(ports(settings, dynamodb=dynamodb, s3=InMemoryS3(), states=signer))  # the handler's
    request = HttpRequest(
        method="POST",
        path="/callback",
        headers={"content-type": "application/x-www-form-urlencoded", "accept-language": "en"},
        query={"state": signer.sign(claims)},
        body=form_body(elmo),
    )
    expected = ExpectedIdentity(given_names="Anna Maria", family_name="de Vries", birth_date=BIRTH_DATE)
    return CallbackCase(service, request, elmo, cert_der, settings, expected)
