"""`emrex-emc local --registry CATALOGUE --registry EMREG_V2 --client-id ID` with an EMREX 2.0 EMP of its own.

The EMP runs outside the stack (in this process, over loopback HTTP), is listed only in the EMREG v2 file given
on the command line, and knows the EMC only from its EMREG client record (``/.well-known/emreg-client.json``):
the whole flow is driven with httpx, as a browser with cookies would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import lxml.html
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from emrex_emc.core.registry_emreg import render_emreg2_list
from emrex_emc.core.registry_parse import render_ewp_catalogue
from emrex_emc.local.apigw import LocalApiGateway, serve
from emrex_emc.local.catalogue import mock_emp_entry
from emrex_emc.local.elmo_factory import generate_signing_identity
from emrex_emc.local.mock_emp import Learner
from emrex_emc.local.mock_emp2 import DECIDE_PATH, MockEmp2
from emrex_emc.local.runner import emreg_client_records
from tests.e2e.stack import free_port, running_local_stack

pytestmark = pytest.mark.xdist_group("local-stack")
CLIENT_ID = "emc-hidden-check"
TOKEN = "local-test-token-0123456789abcdef"
LEARNER = Learner("Ada", "Lovelace", "1995-12-10")


@dataclass
class Setup:
    api: str
    emp: MockEmp2
    events_file: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("emrex2-local")
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    gateway = LocalApiGateway([])
    server = serve(gateway, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    emp = MockEmp2(
        base_url=f"http://127.0.0.1:{server.server_address[1]}",
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        client_records=emreg_client_records(api),
        default_learner=LEARNER,
    )
    gateway.add_routes(emp.routes())
    catalogue, emreg2 = folder / "catalogue.xml", folder / "emreg-v2.json"
    emrex1 = mock_emp_entry("https://emrex1.example.fi/emp", generate_signing_identity("EMREX 1 EMP").cert_der)
    catalogue.write_bytes(render_ewp_catalogue([emrex1]))
    emreg2.write_bytes(render_emreg2_list([emp.registry_entry()]))
    events_file = folder / "events.jsonl"
    try:
        with running_local_stack(
            *("--registry", str(catalogue), "--registry", str(emreg2), "--client-id", CLIENT_ID),
            *("--events-file", str(events_file)),
            port=port,
            state_dir=folder / "state",
            log=folder / "stack.log",
            env={"EMREX_API_TOKEN": TOKEN},
        ):
            yield Setup(api, emp, events_file)
    finally:
        server.shutdown()


def _event(setup: Setup, transfer_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if setup.events_file.is_file():
            for line in setup.events_file.read_text(encoding="utf-8").splitlines():
                event: dict[str, Any] = json.loads(line)
                if event["detail"].get("session_id") == transfer_id:
                    return event
        time.sleep(0.25)
    pytest.fail(f"no event for {transfer_id}")


def test_our_record_names_the_client_id_and_the_configured_redirect_uri(setup: Setup) -> None:
    record = httpx.get(f"{setup.api}/.well-known/emreg-client.json").json()
    assert record["clientId"] == CLIENT_ID and record["redirectUri"] == f"{setup.api}/callback"
    assert httpx.get(f"{setup.api}/.well-known/jwks.json").json()["keys"][0]["alg"] == "RS256"


def test_an_external_emrex2_emp_listed_in_emreg_v2_completes_a_transfer(setup: Setup) -> None:
    created = httpx.post(
        f"{setup.api}/sessions",
        json={
            "applicant_id": "A-42",
            "given_names": LEARNER.given_names,
            "family_name": LEARNER.family_name,
            "birth_date": LEARNER.birth_date,
            "return_url": "http://127.0.0.1:1/return",
        },
        headers={"authorization": f"Bearer {TOKEN}"},
    ).json()
    browser = httpx.Client(follow_redirects=False)
    chooser = lxml.html.fromstring(browser.get(created["start_url"]).text)
    assert sorted(chooser.xpath("//ul//label/text()")) == ["EMREX 2.0 mock EMP (local)", "EMREX mock EMP (local)"]
    emp_id = setup.emp.registry_entry().id
    csrf = chooser.xpath("//input[@name='csrf']/@value")[0]
    choice = browser.post(created["start_url"], data={"csrf": csrf, "emp": emp_id})
    href = lxml.html.fromstring(choice.text).xpath("//a[@id='emrex-authorize']/@href")[0]
    authorize = browser.get(href)
    assert authorize.status_code == 200, authorize.text[:300]
    form = lxml.html.fromstring(authorize.text).xpath("//form[@id='decision']")[0]
    fields = {i.get("name"): i.get("value") for i in form.xpath(".//input") if i.get("type") != "radio"}
    decision = browser.post(f"{setup.emp.base_url}{DECIDE_PATH}", data={**fields, "scenario": "ok"})
    redirect = browser.get(decision.headers["location"])  # the flow cookie goes along: the same browser
    assert redirect.status_code == 303 and "code=" not in redirect.headers["location"]
    outcome = browser.get(redirect.headers["location"])
    assert lxml.html.fromstring(outcome.text).xpath("//h1/text()") == ["Your results have been received"]
    detail = _event(setup, created["id"])["detail"]
    assert (detail["protocol"], detail["emp"]["id"], detail["signature"]["format"]) == ("emrex-2", emp_id, "jws")
