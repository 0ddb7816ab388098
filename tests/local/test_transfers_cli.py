"""``emrex-emc transfers`` against the running local stack (``--local``): transfers made through its HTTP
API, the mock EMP and the callback, as a student's browser would; then the support commands, an erasure
through the API, and an edited catalogue file announced on the events file.

``emrex-emc local`` runs as a subprocess, as a person runs it, with ``--registry-refresh-seconds 1``,
``--events-file`` and a state folder of its own; the CLI finds it through that folder's ``stack.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import lxml.html
import pytest

from emrex_emc.cli import main
from emrex_emc.core.registry import emp_id
from emrex_emc.core.registry_parse import parse_registry, render_ewp_catalogue
from emrex_emc.core.transfer import support_code
from emrex_emc.local.demo_apps import DEMO_APPLICANT
from emrex_emc.local.runner import STACK_FILE
from tests.e2e.stack import free_port, running_local_stack

# the same worker as the browser test (each stack has a state folder of its own)
pytestmark = [pytest.mark.filterwarnings("ignore:No application metrics to publish"), pytest.mark.xdist_group("e2e")]

APPLICANT = "uni:2027/a+b"
OTHER_APPLICANT = "uni:2027/other"
API_TOKEN = "transfers-cli-test-api-token-0123456789"
ADMIN_TOKEN = "transfers-cli-test-admin-token-0123456789"


@dataclass(frozen=True)
class Local:
    urls: dict[str, str]
    events_file: Path
    state: Path

    @property
    def catalogue_file(self) -> Path:
        return self.state / "catalogue-v1.xml"

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(["transfers", *args, "--local", str(self.state)])
        out, err = capsys.readouterr()
        return status, out, err

    def events(self) -> list[dict[str, Any]]:
        path = self.events_file
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    folder = tmp_path_factory.mktemp("local")
    log, events_file, state = folder / "local-stack.log", folder / "events.jsonl", folder / "state"
    with running_local_stack(
        *("--events-file", str(events_file), "--registry-refresh-seconds", "1"),
        port=free_port(),
        state_dir=state,
        log=log,
        env={"EMREX_API_TOKEN": API_TOKEN, "EMREX_ADMIN_TOKEN": ADMIN_TOKEN},
    ) as health:
        yield Local(health["urls"], events_file, state)
    assert not (state / STACK_FILE).exists()  # a stopped stack is not found by --local
    assert "Admin bearer token" in log.read_text(errors="replace")


def form_of(html: str, form_id: str | None = None) -> tuple[str, dict[str, str]]:
    page = lxml.html.fromstring(html)
    form = page.xpath(f"//form[@id='{form_id}']")[0] if form_id else page.xpath("//form")[0]
    fields = {field.get("name"): field.get("value") or "" for field in form.xpath(".//input[@name]")}
    return form.get("action"), fields


def transfer_through_the_stack(local: Local, applicant_id: str, scenario: str) -> str:
    """POST /sessions, choose the mock EMP, let it answer ``scenario``, post that to the callback."""
    body = {
        "applicant_id": applicant_id,
        "given_names": DEMO_APPLICANT.given_names,
        "family_name": DEMO_APPLICANT.family_name,
        "birth_date": DEMO_APPLICANT.birth_date,
        "return_url": local.urls["enrolment_form"] + "return",
    }
    created = httpx.post(f"{local.urls['api']}/sessions", json=body, headers={"authorization": f"Bearer {API_TOKEN}"})
    assert created.status_code == 201, created.text
    start_url = created.json()["start_url"]
    with httpx.Client() as browser:
        chooser = lxml.html.fromstring(browser.get(start_url).text)
        choice = {
            "csrf": chooser.xpath("//input[@name='csrf']/@value")[0],
            "emp": chooser.xpath("//input[@name='emp']/@value")[0],
        }
        emp_url, to_emp = form_of(browser.post(start_url, data=choice).text)
        _, at_emp = form_of(browser.post(emp_url, data=to_emp).text, "scenario-form")
        answer = {**at_emp, "scenario": scenario}
        callback_url, to_callback = form_of(browser.post(emp_url + "/respond", data=answer).text, "emrex-response")
        assert browser.post(callback_url, data=to_callback).status_code == 200
    return str(created.json()["id"])


@pytest.fixture(scope="module")
def transfers(local: Local) -> dict[str, str]:
    return {
        "received": transfer_through_the_stack(local, APPLICANT, "ok"),
        "tampered": transfer_through_the_stack(local, APPLICANT, "tampered"),
        "other": transfer_through_the_stack(local, OTHER_APPLICANT, "ok"),
    }


def test_show_by_support_code_without_personal_data(
    local: Local, transfers: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = support_code(transfers["tampered"])
    status, out, err = local.cli(capsys, "show", code, "--json")
    assert status == 0, err
    shown = json.loads(out)
    assert (shown["id"], shown["support_code"], shown["status"]) == (transfers["tampered"], code, "rejected")
    assert shown["error"]["code"] == "SIGNATURE_DIGEST_MISMATCH" and shown["error"]["message"]
    assert len(shown["evidence"]["payload_sha256"]) == 64
    assert shown["emp"]["name"] == "EMREX mock EMP (local)"
    return_url = local.urls["enrolment_form"] + "return"
    for personal in (DEMO_APPLICANT.family_name, DEMO_APPLICANT.birth_date, APPLICANT, return_url):
        assert personal not in out, personal

    status, out, _ = local.cli(capsys, "show", code.lower().replace("-", ""), "--show-personal-data")
    assert status == 0
    assert DEMO_APPLICANT.family_name in out and APPLICANT in out  # only when asked


def test_show_a_received_transfer_as_text(
    local: Local, transfers: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = local.cli(capsys, "show", transfers["received"])
    assert status == 0
    assert "status " in out and "received" in out and "rsa-sha256" in out
    assert DEMO_APPLICANT.family_name not in out


def test_list_an_applicants_transfers(
    local: Local, transfers: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = local.cli(capsys, "list", "--applicant", APPLICANT, "--json")
    assert status == 0
    listed = json.loads(out)["transfers"]
    assert sorted(t["id"] for t in listed) == sorted([transfers["received"], transfers["tampered"]])
    assert {t["status"] for t in listed} == {"received", "rejected"}


def test_reverify_agrees_with_the_stored_outcomes(
    local: Local, transfers: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = local.cli(capsys, "reverify", transfers["received"], "--json")
    assert status == 0, err
    report = json.loads(out)
    assert (report["verdict"], report["payload_intact"], report["agrees_with_stored_outcome"]) == (
        "received",
        True,
        True,
    )
    assert report["identity"] == "MATCH" and "personal_data" not in report
    assert report["policy"]["source"] == "the local stack"  # the local callback's settings (stack.json)
    status, out, _ = local.cli(capsys, "reverify", support_code(transfers["tampered"]), "--json")
    assert status == 0
    assert json.loads(out)["error"]["code"] == "SIGNATURE_DIGEST_MISMATCH"


def test_unknown_transfers_and_bad_input_exit_2(local: Local, capsys: pytest.CaptureFixture[str]) -> None:
    assert local.cli(capsys, "show", "0" * 32)[0] == 2
    assert local.cli(capsys, "show", "FFFF-FFFF-FFFF")[0] == 2
    status, _, err = local.cli(capsys, "show", "not a code\x1b[31m")
    assert status == 2 and "\x1b" not in err


def test_erasure_through_the_api_leaves_nothing_the_cli_can_show(
    local: Local, transfers: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = f"{local.urls['api']}/applicants/{quote(APPLICANT, safe='')}"
    assert httpx.delete(path, headers={"authorization": f"Bearer {API_TOKEN}"}).status_code == 403
    erased = httpx.delete(path, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert erased.status_code == 202
    assert sorted(erased.json()["session_ids"]) == sorted([transfers["received"], transfers["tampered"]])
    assert erased.json()["erased"] == 2

    status, out, _ = local.cli(capsys, "show", transfers["received"], "--json")
    assert status == 0 and set(json.loads(out)) == {"id", "support_code", "status", "erased_at"}
    assert local.cli(capsys, "reverify", transfers["received"])[0] == 2
    status, out, _ = local.cli(capsys, "list", "--applicant", APPLICANT, "--json")
    assert json.loads(out)["transfers"] == []
    status, out, _ = local.cli(capsys, "show", transfers["other"], "--json")
    assert json.loads(out)["status"] == "received"  # another applicant: untouched

    deadline = time.monotonic() + 20
    while not [e for e in local.events() if e["detail-type"] == "EMREX Applicant Erased"]:
        assert time.monotonic() < deadline, "no EMREX Applicant Erased in the events file"
        time.sleep(0.2)


def test_an_edited_catalogue_file_is_announced_on_the_events_file(local: Local) -> None:
    catalogue = local.catalogue_file
    (mock,) = parse_registry(catalogue.read_bytes(), allow_loopback_http=True).emps
    url = "http://127.0.0.1:9/another-emp"
    another = replace(mock, id=emp_id("SE", url), url=url, country="SE", name="Another EMP")
    catalogue.write_bytes(render_ewp_catalogue([mock, another]))

    deadline = time.monotonic() + 30
    while not [e for e in local.events() if e["detail-type"] == "EMREX EMP Added"]:
        assert time.monotonic() < deadline, "no EMREX EMP Added in the events file"
        time.sleep(0.2)
    (added,) = [e for e in local.events() if e["detail-type"] == "EMREX EMP Added"]
    assert added["detail"]["emp"] == {
        "id": another.id,
        "name": "Another EMP",
        "country": "SE",
        "url": url,
        "protocol": "emrex-1",
    }
    sis = httpx.get(local.urls["demo_sis"] + "events.json").json()
    assert sis and "EMREX EMP Added" not in {e["detail-type"] for e in sis}  # never to the SIS
