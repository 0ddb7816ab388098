"""The warm EMREX 2.0 callback against the local mock EMP 2.0 vs the warm EMREX 1 callback, on the same document.

Both run the real services on the in-memory AWS clients of ``benchmarks/_callback_fixture.py`` and render the
outcome page. EMREX 1 handles the auto-posted form (base64 + gzip of the XML-signed document). EMREX 2.0
handles the redirect back: signs the client assertion (a local RSA key standing in for KMS, whose round trip
is not measured), redeems the code, calls the mock EMP's token and results endpoints over loopback HTTP
(httpx, the production adapter; the mock checks the assertion and PKCE and signs the results' detached JWS
each time), verifies the JWS, then runs the same pipeline, with the same certificate pinned, so the XML
signature inside is checked too. The EMP's own work is in the figure: it is what a student waits for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from threading import Thread
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from benchmarks import Row, benchmark, median_seconds
from benchmarks._callback_fixture import SETTINGS_ENV, InMemoryDynamoDB, InMemoryS3, callback_case
from benchmarks.callback_warm import COURSES, PDF_BYTES
from callback.handler import ports
from emrex_emc.adapters.emp_http import EmpHttp
from emrex_emc.adapters.sessions import transfer_to_item
from emrex_emc.core.emrex2 import (
    EmpRedirect,
    FlowCookies,
    code_challenge,
    flow_cookie_hash,
    flow_cookie_suffix,
    new_code_verifier,
    new_flow_cookie,
)
from emrex_emc.core.protocol import ProtocolVersion, Status
from emrex_emc.core.state import StateClaims, StateSigner
from emrex_emc.core.transfer import EmpRef, Transfer
from emrex_emc.local.apigw import LocalApiGateway, serve
from emrex_emc.local.elmo_factory import build_elmo, encode_elmo, generate_signing_identity, make_pdf, sign_elmo
from emrex_emc.local.mock_emp import Learner
from emrex_emc.local.mock_emp2 import DECIDE_PATH, MockEmp2
from emrex_emc.services.redirect_callback import RedirectCallbackService
from emrex_emc.settings import Settings
from emrex_emc.web.http import HttpRequest
from emrex_emc.web.outcome import transfer_outcome_page

BIRTH_DATE = "2001-02-03"
LEARNER = Learner("Anna Maria", "de Vries", BIRTH_DATE)
CLIENT_ID = "emc-bench"
EMC_BASE = "https://emc.bench.example"
TRANSFER_ID = "d" * 32
FLOW_ID = "F" * 32


class InMemoryDynamoDB2(InMemoryDynamoDB):
    """Also the conditional update that redeems a code (always the first redemption: a fresh transfer)."""

    def update_item(self, **_: Any) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class LocalKey:
    """Stands in for KMS: the same RS256 signature, without the network round trip."""

    key: rsa.RSAPrivateKey
    signing_key_id: str = "emc-bench-1"

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def public_keys(self) -> list[tuple[str, bytes]]:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return [(self.signing_key_id, der)]


@dataclass
class Emrex2Case:
    service: RedirectCallbackService
    state: str
    cookies: FlowCookies
    next_code: Callable[[], str]

    def handle(self, code: str) -> str:
        """What the callback handler does with a redirect back: receive it, render the outcome page."""
        result = self.service.receive(EmpRedirect(state=self.state, code=code, flow_cookies=self.cookies))
        transfer_outcome_page(result.transfer, result.outcome, "en")  # the handler's rendering
        return result.outcome.status.value


@cache
def document() -> tuple[bytes, bytes]:
    """(the XML-signed ELMO document, its signing certificate DER): the EMREX 1 benchmark's document."""
    identity = generate_signing_identity("Benchmark EMP")
    xml = build_elmo(
        given_names=LEARNER.given_names,
        family_name=LEARNER.family_name,
        birth_date=date.fromisoformat(BIRTH_DATE),
        courses=COURSES,
        pdf_bytes=make_pdf(PDF_BYTES),
    )
    return sign_elmo(xml, identity, style="java-sha1-inclusive"), identity.cert_der


def emrex2_case(signed_xml: bytes, cert_der: bytes) -> Emrex2Case:
    client_key = LocalKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    logging.getLogger("emrex_emc.local.mock_emp2").setLevel(logging.WARNING)  # one INFO line per token otherwise
    gateway = LocalApiGateway([])
    server = serve(gateway, "127.0.0.1", 0)
    Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    record = {
        "clientId": CLIENT_ID,
        "redirectUri": f"{EMC_BASE}/callback",
        "publicKey": serialization.load_der_public_key(client_key.public_keys()[0][1])
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    }
    mock = MockEmp2(
        base_url=base,
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        client_records=lambda client_id: record if client_id == CLIENT_ID else None,
        default_learner=LEARNER,
        document=lambda _learner: signed_xml,
    )
    gateway.add_routes(mock.routes())
    emp = mock.registry_entry()
    settings = Settings.from_env(
        {
            **SETTINGS_ENV,
            "EMREX_PUBLIC_BASE_URL": EMC_BASE,
            "EMREX_CLIENT_ID": CLIENT_ID,
            "EMREX_CLIENT_KEYS": "emc-bench-1=local",
        }
    )
    now = int(time.time())
    verifier, cookie = new_code_verifier(), new_flow_cookie()
    transfer = Transfer(
        id=TRANSFER_ID,
        applicant_id="applicant-1",
        given_names=LEARNER.given_names,
        family_name=LEARNER.family_name,
        birth_date=BIRTH_DATE,
        return_url="https://uni.example/return",
        locale="en",
        status=Status.PENDING,
        created_at="2026-01-01T00:00:00Z",
        deadline=now + 3600,
        expires_at=now + 90000,
        start_used=True,
        emrex_session_id=FLOW_ID,
        emp=EmpRef.of(emp),
        pinned_certs=(cert_der,),
        protocol=ProtocolVersion.EMREX_2,
        emp_endpoints=emp.emrex2,
        emp_public_key=emp.public_key,
        code_verifier=verifier,
    )
    dynamodb = InMemoryDynamoDB2()
    dynamodb.items[f"SESSION#{TRANSFER_ID}"] = transfer_to_item(transfer)
    signer = StateSigner({"k1": b"k" * 32}, "k1")
    claims = StateClaims(
        TRANSFER_ID, FLOW_ID, emp.id, now + 3600, protocol=ProtocolVersion.EMREX_2, browser=flow_cookie_hash(cookie)
    )
    state = signer.sign(claims)
    service = RedirectCallbackService(  # the handler's wiring
        ports(settings, dynamodb=dynamodb, s3=InMemoryS3(), states=signer),
        keys=client_key,
        emp=EmpHttp(max_results_bytes=settings.decode_limits.max_decompressed_bytes, allow_loopback_http=True),
    )

    def next_code() -> str:
        """The EMP's half of a fresh authorization (not timed: the student's consent at the EMP)."""
        fields = {
            "client_id": CLIENT_ID,
            "redirect_uri": record["redirectUri"],
            "state": state,
            "code_challenge": code_challenge(verifier),
            "scenario": "ok",
            "given_names": LEARNER.given_names,
            "family_name": LEARNER.family_name,
            "birth_date": BIRTH_DATE,
        }
        request = HttpRequest(
            "POST", DECIDE_PATH, {"content-type": "application/x-www-form-urlencoded"}, body=urlencode(fields).encode()
        )
        location = mock.decide(request).headers["location"]
        return dict(parse_qsl(urlsplit(location).query))["code"]

    return Emrex2Case(service, state, FlowCookies.of([(flow_cookie_suffix(TRANSFER_ID), cookie)]), next_code)


@benchmark
def emrex2_callback_vs_emrex1(runs: int) -> list[Row]:
    signed_xml, cert_der = document()
    emrex1 = callback_case(encode_elmo(signed_xml), cert_der)
    emrex2 = emrex2_case(signed_xml, cert_der)
    for built, name in ((emrex1.handle(), "EMREX 1"), (emrex2.handle(emrex2.next_code()), "EMREX 2.0")):
        if built != "received":  # measure the accepting path, never a refusal
            raise RuntimeError(f"benchmark {name} callback was not accepted: {built}")
    codes = [emrex2.next_code() for _ in range(runs + 1)]  # fresh authorizations, made before timing
    medians = median_seconds({"emrex1": emrex1.handle, "emrex2": lambda: emrex2.handle(codes.pop())}, runs)
    figure = f"warm EMREX 2.0 callback vs local mock EMP over HTTP, ~{COURSES} courses + {PDF_BYTES // 1024} kB PDF"
    reference = "warm EMREX 1 callback, same document"
    return [Row(figure, medians["emrex2"], reference, medians["emrex1"], runs)]
