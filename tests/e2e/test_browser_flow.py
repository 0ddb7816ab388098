"""The whole flow in headless Chromium against ``emrex-emc local`` started as a subprocess, as a person runs it.

An applicant fills in the demo enrolment form, chooses the mock EMP on the EMC's chooser, follows the
auto-POST to the EMP, picks a scenario there, follows the auto-POST back to the EMC's callback and lands
on the outcome page. We then check the page and the event the demo SIS received (its events file).
Screenshots of every outcome page go to ``test-artifacts/`` (git-ignored; CI keeps them).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from emrex_emc.core.events import SCHEMA_VERSION
from emrex_emc.core.transfer import support_code
from tests.e2e.stack import (
    APPLICANT,
    ARTIFACTS,
    GREEK_APPLICANT,
    MOCK_EMP2_LABEL,
    REPO,
    START_URL,
    Applicant,
    Stack,
    answer_at_the_mock_emp,
    choose_the_mock_emp,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SCHEMAS = REPO / "functions" / "emrex_emc" / "schemas" / "events"
EVENT_TIMEOUT_S = 30


def _to_chooser(page: Any, stack: Stack, applicant: Applicant) -> str:
    """The enrolment form, then the chooser of the new transfer; returns its id."""
    page.goto(stack.urls["enrolment_form"])
    page.fill("#given_names", applicant.given_names)
    page.fill("#family_name", applicant.family_name)
    page.fill("#birth_date", applicant.birth_date)
    page.click("#start-transfer")
    page.wait_for_url(START_URL)
    return str(page.url.rsplit("/", 1)[1])


def _transfer(page: Any, stack: Stack, scenario: str, applicant: Applicant = APPLICANT) -> str:
    """Run one transfer through the browser; returns the transfer id (the page ends on the outcome page)."""
    transfer_id = _to_chooser(page, stack, applicant)
    choose_the_mock_emp(page, stack)  # the EMC auto-POSTs sessionId + returnUrl to the EMP
    answer_at_the_mock_emp(page, scenario, applicant)  # the EMP's page auto-POSTs the answer to returnUrl
    page.screenshot(path=str(ARTIFACTS / f"e2e-outcome-{scenario}.png"), full_page=True)
    return transfer_id


def _event_for(stack: Stack, transfer_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while time.monotonic() < deadline:
        if stack.events_file.is_file():
            for line in stack.events_file.read_text(encoding="utf-8").splitlines():
                event: dict[str, Any] = json.loads(line)
                if event["detail"].get("session_id") == transfer_id:
                    _check_schema(event)
                    return event
        time.sleep(0.25)
    pytest.fail(f"the demo SIS received no event for transfer {transfer_id} within {EVENT_TIMEOUT_S} s")


def _check_schema(event: dict[str, Any]) -> None:
    """Every event the SIS gets must match the published JSON Schema of its detail-type."""
    import jsonschema

    name = event["detail-type"].lower().replace(" ", "-")
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(event["detail"], schema)


def test_ok_results_are_received_matched_and_published(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "ok")
    assert page.locator("h1").inner_text() == "Your results have been received"
    assert "signature was verified" in page.inner_text("main")
    # the transcript the EMP sent along (a PDF) is mentioned
    assert (
        page.locator("tr", has_text="Attached documents (such as a PDF transcript)").locator("td").inner_text() == "1"
    )
    event = _event_for(stack, transfer_id)
    assert event["source"] == "emrex.emc"
    assert event["detail-type"] == "EMREX Results Received"
    assert event["detail"]["status"] == "received"
    assert event["detail"]["identity"]["verdict"] == "MATCH"
    assert event["detail"]["summary"]["course_count"] == 3
    assert event["detail"]["summary"]["total_ects"] == "18"  # the degree, whose three courses of 6 add up to it
    assert event["detail"]["warnings"] == []  # the default scenario is a clean import
    assert event["detail"]["provenance"]["verdict"] == "covered"  # the local catalogue says the mock EMP covers it
    assert "provenance-check" not in page.content()

    page.get_by_role("link", name="Back to your application").click()
    assert page.locator("#transfer-status").inner_text() == "received"
    page.screenshot(path=str(ARTIFACTS / "e2e-return-ok.png"), full_page=True)


def test_cancel_is_published_as_cancelled(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "cancel")
    assert page.locator("h1").inner_text() == "The transfer was cancelled"
    event = _event_for(stack, transfer_id)
    assert event["detail-type"] == "EMREX Transfer Cancelled"
    assert event["detail"]["status"] == "cancelled"


def test_results_of_another_person_are_received_with_a_mismatch_verdict(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "identity-mismatch")
    assert page.locator("h1").inner_text() == "Your results have been received"
    assert "check that these results belong to you" in page.inner_text("main")
    event = _event_for(stack, transfer_id)
    assert event["detail-type"] == "EMREX Results Received"
    assert event["detail"]["identity"]["verdict"] == "MISMATCH"


def test_tampered_document_is_rejected_with_its_code(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "tampered")
    assert page.locator("h1").inner_text() == "Your results could not be verified"
    assert "SIGNATURE_DIGEST_MISMATCH" in page.inner_text("main")
    # what to do next, and the support code to quote (the transfer id's first 12 hex digits)
    assert page.locator("h2").inner_text() == "What you can do"
    assert page.locator("li").nth(0).inner_text() == "Go back to your application and start the import again."
    assert page.locator("strong.code").inner_text() == support_code(transfer_id)
    event = _event_for(stack, transfer_id)
    assert event["detail-type"] == "EMREX Results Rejected"
    assert event["detail"]["status"] == "rejected"
    assert event["detail"]["error"]["code"] == "SIGNATURE_DIGEST_MISMATCH"


def test_demo_sis_lists_the_events_newest_first(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "no-results")
    _event_for(stack, transfer_id)
    page.goto(stack.urls["demo_sis"])
    first_row = page.locator("#events tbody tr").first
    assert "EMREX No Results" in first_row.inner_text()
    assert transfer_id in first_row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "e2e-demo-sis.png"), full_page=True)


def test_the_mock_emp_knows_the_applicant_and_fits_a_phone(browser: Any, stack: Stack) -> None:
    context = browser.new_context(locale="en-GB", viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(stack.urls["enrolment_form"])
        page.fill("#given_names", APPLICANT.given_names)
        page.fill("#family_name", APPLICANT.family_name)
        page.fill("#birth_date", APPLICANT.birth_date)
        page.click("#start-transfer")
        page.wait_for_url(START_URL)
        choose_the_mock_emp(page, stack)
        # what the EMP's login would show: the applicant of this transfer, not the demo default
        assert page.input_value("#given-names") == APPLICANT.given_names
        assert page.input_value("#family-name") == APPLICANT.family_name
        assert page.input_value("#birth-date") == APPLICANT.birth_date
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
        page.screenshot(path=str(ARTIFACTS / "e2e-mock-emp-375px.png"), full_page=True)
    finally:
        context.close()


def test_an_elmo_2_1_greek_graduate_matches_the_greek_applicant_through_the_alternative_name(
    page: Any, stack: Stack
) -> None:
    transfer_id = _transfer(page, stack, "elmo21-greek", GREEK_APPLICANT)
    assert page.locator("h1").inner_text() == "Your results have been received"
    assert "check that these results belong to you" not in page.inner_text("main")
    detail = _event_for(stack, transfer_id)["detail"]
    assert detail["elmo_version"] == "v2" and detail["document_types"] == ["Diploma"]
    assert detail["identity"]["verdict"] == "MATCH"
    methods = {field["field"]: field["method"] for field in detail["identity"]["fields"]}
    assert methods == {"given_names": "alternative_name", "family_name": "alternative_name", "birth_date": "exact"}
    assert detail["provenance"] == {
        "verdict": "covered",
        "reports": [{"index": 0, "verdict": "covered", "hei_id": "uoa.gr"}],
    }


def test_an_enrolment_proof_is_received_as_an_enrolment(page: Any, stack: Stack) -> None:
    transfer_id = _transfer(page, stack, "enrolment-proof")
    assert page.locator("h1").inner_text() == "Your results have been received"
    detail = _event_for(stack, transfer_id)["detail"]
    assert detail["document_types"] == ["Enrolment"] == detail["summary"]["document_types"]
    assert detail["identity"]["verdict"] == "MATCH"
    assert detail["provenance"]["verdict"] == "covered"


@pytest.mark.parametrize(("protocol", "hei_id"), [("emrex-1", "uio.no"), ("emrex-2", "uoa.gr")])
def test_results_from_an_institution_the_emp_does_not_cover_are_received_for_admissions_to_check(
    page: Any, stack: Stack, protocol: str, hei_id: str
) -> None:
    transfer = _transfer if protocol == "emrex-1" else _transfer2  # the mock EMP of either protocol
    transfer_id = transfer(page, stack, "issuer-not-covered")
    assert page.locator("h1").inner_text() == "Your results have been received"
    assert "The admissions office will check them." in page.locator("#provenance-check").inner_text()
    detail = _event_for(stack, transfer_id)["detail"]
    assert (detail["status"], detail["protocol"]) == ("received", protocol)  # not a refusal
    assert detail["provenance"] == {
        "verdict": "not_covered",
        "reports": [{"index": 0, "verdict": "not_covered", "hei_id": hei_id}],
    }


# --- EMREX 2.0: the same chooser, the OAuth flow through the mock EMP 2.0 -----------------------------------


def _transfer2(page: Any, stack: Stack, scenario: str, applicant: Applicant = APPLICANT) -> str:
    """One EMREX 2.0 transfer through the browser; returns the transfer id (the page ends on the outcome page)."""
    transfer_id = _to_authorization(page, stack, applicant)
    _answer_authorization(page, scenario)
    return transfer_id


def _to_authorization(page: Any, stack: Stack, applicant: Applicant = APPLICANT) -> str:
    """A new EMREX 2.0 transfer, its EMP chosen: the page ends at the mock EMP's login."""
    transfer_id = _to_chooser(page, stack, applicant)
    page.get_by_label(MOCK_EMP2_LABEL).check()
    page.get_by_role("button", name="Continue").click()  # the interstitial navigates to the authorization request
    page.wait_for_url(re.compile(r"/emp2/authorize\?.*code_challenge_method=S256"))
    # what the EMP's login would show: the applicant of this transfer (its state verified with our keys)
    assert page.input_value("#given-names") == applicant.given_names
    return transfer_id


def _answer_authorization(page: Any, scenario: str) -> None:
    page.check(f"#scenario-{scenario}")
    with page.expect_navigation(url=re.compile(r"/callback\?state=[^&]+$")):
        page.click("#send-results")  # the EMP redirects back; our 303 drops the code from the address
    page.wait_for_load_state()
    assert "code=" not in page.url
    page.screenshot(path=str(ARTIFACTS / f"e2e-emrex2-outcome-{scenario}.png"), full_page=True)


def test_emrex2_results_are_received_and_published_with_the_protocol(page: Any, stack: Stack) -> None:
    transfer_id = _transfer2(page, stack, "ok")
    assert page.locator("h1").inner_text() == "Your results have been received"
    event = _event_for(stack, transfer_id)
    assert event["detail-type"] == "EMREX Results Received"
    detail = event["detail"]
    assert detail["protocol"] == "emrex-2" and detail["schema_version"] == SCHEMA_VERSION
    assert detail["emp"]["protocol"] == "emrex-2" and detail["emp"]["url"]
    assert detail["signature"]["format"] == "jws" and detail["identity"]["verdict"] == "MATCH"
    # no conformance warning; only the JWS vouches for these results (docs/EMREX2.md: no XML signature inside)
    assert [warning["code"] for warning in detail["warnings"]] == ["XML_SIGNATURE_NOT_CHECKED"]
    # issued by the institution EMREG lists for the mock (by name only, so the country vouches for it)
    assert detail["provenance"]["verdict"] == "same_country"
    assert "provenance-check" not in page.content()
    page.get_by_role("link", name="Back to your application").click()
    assert page.locator("#transfer-status").inner_text() == "received"


def test_emrex2_two_transfers_started_in_one_browser_both_complete(page: Any, stack: Stack) -> None:
    first = _to_authorization(page, stack)  # left at the EMP's login while another transfer starts in a new tab
    other_tab = page.context.new_page()
    try:
        second = _transfer2(other_tab, stack, "ok")
        assert other_tab.locator("h1").inner_text() == "Your results have been received"
    finally:
        other_tab.close()
    _answer_authorization(page, "ok")
    assert page.locator("h1").inner_text() == "Your results have been received"
    for transfer_id in (first, second):
        assert _event_for(stack, transfer_id)["detail-type"] == "EMREX Results Received"


def test_emrex2_access_denied_is_cancelled(page: Any, stack: Stack) -> None:
    transfer_id = _transfer2(page, stack, "access-denied")
    assert page.locator("h1").inner_text() == "The transfer was cancelled"
    assert _event_for(stack, transfer_id)["detail-type"] == "EMREX Transfer Cancelled"


def test_emrex2_a_tampered_body_is_rejected(page: Any, stack: Stack) -> None:
    transfer_id = _transfer2(page, stack, "tampered-body")
    assert page.locator("h1").inner_text() == "Your results could not be verified"
    event = _event_for(stack, transfer_id)
    assert event["detail"]["error"]["code"] == "JWS_INVALID" and event["detail"]["protocol"] == "emrex-2"


def test_emrex2_a_reload_of_the_outcome_page_publishes_nothing_new(page: Any, stack: Stack) -> None:
    transfer_id = _transfer2(page, stack, "no-results")
    assert page.locator("h1").inner_text() == "No results were found"
    _event_for(stack, transfer_id)
    page.reload()
    assert page.locator("h1").inner_text() == "No results were found"
    time.sleep(1)  # let the relay publish anything a reload might have queued (there must be nothing)
    lines = [json.loads(line) for line in stack.events_file.read_text(encoding="utf-8").splitlines()]
    assert sum(1 for event in lines if event["detail"].get("session_id") == transfer_id) == 1
