"""Accessibility in a real browser: axe-core (WCAG 2.1 A and AA rules) on every page type, in every page
language, and a keyboard-only walk from the chooser through the mock EMP to the outcome page.

Every page type: the demo enrolment form and its return page, the chooser (as opened, with search results,
with none), the redirects to the EMP (EMREX 1's form post, EMREX 2.0's authorization request), the outcome
pages (received, rejected, cancelled, no results, provider error), the error pages (link already used, unknown
link, no such page) and the mock EMP. The pages of the EMC and the demo form are opened in all 24 languages,
the browser asking for that language; axe's findings per language go to ``test-artifacts/axe/<lang>.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from emrex_emc.local.mock_emp2 import AUTHORIZE_PATH
from emrex_emc.web.i18n import SUPPORTED_LANGUAGES
from emrex_emc.web.texts import t
from tests.e2e.stack import (
    APPLICANT,
    ARTIFACTS,
    MOCK_EMP2_LABEL,
    MOCK_EMP_LABEL,
    START_URL,
    Stack,
    answer_at_the_mock_emp,
    choose_the_mock_emp,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

WCAG_21_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
OUTCOME_SCENARIOS = {
    "tampered": "rejected",
    "cancel": "cancelled",
    "no-results": "no_results",
    "provider-error": "provider_error",
}
"""Mock EMP scenario -> the outcome page it leads to (``ok`` -> received is walked through the demo form)."""
PAGE_TYPES = {
    "demo enrolment form",
    "chooser",
    "chooser: search results",
    "chooser: no search results",
    "redirect to the EMP (EMREX 1)",
    "redirect to the EMP (EMREX 2.0)",
    "outcome: received",
    "demo return page",
    "error: link already used",
    *(f"outcome: {outcome}" for outcome in OUTCOME_SCENARIOS.values()),
    "error: unknown link",
    "error: no such page",
}
EMREX2_AUTHORIZATION_REQUEST = re.compile(re.escape(AUTHORIZE_PATH) + r"\?")
"""Where the EMREX 2.0 redirect page sends the browser (the mock EMP 2.0's authorization endpoint)."""
EMP_CHECKED_IN = {"en", "nl", "el"}
"""The mock EMP's page is English whatever the student's language: checked once per language of that set."""
AXE = Axe()


class Audit:
    """Runs axe on the page in the browser and keeps what it found, per page type."""

    def __init__(self, page: Any, lang: str) -> None:
        self.page = page
        self.lang = lang
        self.checked: dict[str, list[dict[str, Any]]] = {}

    def check(self, page_type: str, *, lang: str | None = None) -> None:
        """Axe on the page as it is now (the caller has waited for it)."""
        assert self.page.evaluate("document.documentElement.lang") == (lang or self.lang), page_type
        violations = AXE.run(self.page, options=WCAG_21_AA).response["violations"]
        self.checked[page_type] = [
            {
                "rule": violation["id"],
                "impact": violation["impact"],
                "help": violation["help"],
                "where": [node["target"] for node in violation["nodes"]][:5],
            }
            for violation in violations
        ]

    def violations(self) -> dict[str, list[dict[str, Any]]]:
        return {page_type: found for page_type, found in self.checked.items() if found}

    def report(self) -> None:
        folder = ARTIFACTS / "axe"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{self.lang}.json").write_text(json.dumps(self.checked, indent=1, ensure_ascii=False) + "\n")


@pytest.fixture
def tab_in(browser: Any) -> Iterator[Any]:
    """A tab whose browser asks for one language (``Accept-Language``), as a student's browser does."""
    contexts: list[Any] = []

    def open_tab(lang: str) -> Any:
        context = browser.new_context(locale=lang)
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        return tab

    yield open_tab
    for context in contexts:
        context.close()


def _redirect_page_held(page: Any, emp_label: str, emp_url: str | re.Pattern[str], page_id: str) -> None:
    """Continue on the chooser with the EMP labelled ``emp_label``, but keep the browser on the redirect page
    (its element ``page_id`` shown): the EMP answers the page's auto-POST (EMREX 1) or its refresh to the
    authorization request (EMREX 2.0) with 204 No Content, so the page stays for axe."""
    page.route(emp_url, lambda route: route.fulfill(status=204))
    page.get_by_label(emp_label).check()
    with page.expect_request(emp_url):
        page.click("form[method=post] button[type=submit]")
    page.wait_for_function(
        "(id) => document.readyState === 'complete' && document.getElementById(id) !== null", arg=page_id
    )


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_every_page_type_passes_axe_in(lang: str, tab_in: Any, stack: Stack) -> None:
    page = tab_in(lang)
    audit = Audit(page, lang)
    try:
        # the demo enrolment form, in the browser's language, sends that language as the transfer's locale
        page.goto(stack.urls["enrolment_form"])
        audit.check("demo enrolment form")
        assert page.input_value("#locale") == lang
        page.click("#start-transfer")
        page.wait_for_url(START_URL)
        start_url = page.url
        audit.check("chooser")

        page.fill("#q", "EMREX")
        page.press("#q", "Enter")
        page.wait_for_url(re.compile(r"\?q=EMREX$"))
        # both mock EMPs (EMREX 1 and 2.0): a plural form; the 2.0 one alone: the singular
        assert page.locator("[role=status]").inner_text() == t(lang, "chooser.match_count", count=2, query="EMREX")
        audit.check("chooser: search results")
        page.fill("#q", "2.0")
        page.press("#q", "Enter")
        page.wait_for_url(re.compile(r"\?q=2\.0$"))
        assert page.locator("[role=status]").inner_text() == t(lang, "chooser.match_count", count=1, query="2.0")
        page.fill("#q", "Atlantis")
        page.press("#q", "Enter")
        page.wait_for_url(re.compile(r"\?q=Atlantis$"))
        assert page.locator("[role=status]").inner_text() == t(lang, "chooser.no_match", query="Atlantis")
        audit.check("chooser: no search results")
        page.goto(start_url)

        _redirect_page_held(page, MOCK_EMP_LABEL, stack.urls["mock_emp"], "emrex-redirect")
        audit.check("redirect to the EMP (EMREX 1)")
        page.unroute(stack.urls["mock_emp"])
        page.click("form button[type=submit]")  # then on to the EMP with the page's own button
        page.wait_for_url(stack.urls["mock_emp"])
        if lang in EMP_CHECKED_IN:
            audit.check("mock EMP", lang="en")  # the EMP's own page, in its own language
        answer_at_the_mock_emp(page, "ok", APPLICANT)
        audit.check("outcome: received")
        with page.expect_navigation():
            page.click("a.button")  # back to the application
        audit.check("demo return page")
        page.goto(start_url)  # the start link once more
        audit.check("error: link already used")

        for scenario, outcome in OUTCOME_SCENARIOS.items():
            page.goto(stack.create_transfer(locale=lang))
            choose_the_mock_emp(page, stack)
            answer_at_the_mock_emp(page, scenario)
            assert page.locator("h1").inner_text() == t(lang, f"{outcome}.title")
            audit.check(f"outcome: {outcome}")

        page.goto(stack.create_transfer(locale=lang))
        _redirect_page_held(page, MOCK_EMP2_LABEL, EMREX2_AUTHORIZATION_REQUEST, "emrex-authorize")
        audit.check("redirect to the EMP (EMREX 2.0)")
        page.unroute(EMREX2_AUTHORIZATION_REQUEST)

        page.goto(f"{stack.urls['api']}/start/{'0' * 32}")
        audit.check("error: unknown link")
        page.goto(f"{stack.urls['api']}/no/such/page")
        audit.check("error: no such page")
    finally:
        audit.report()
    assert set(audit.checked) == PAGE_TYPES | ({"mock EMP"} if lang in EMP_CHECKED_IN else set())
    assert audit.violations() == {}


def test_the_audit_would_notice_violations(tab_in: Any, stack: Stack) -> None:
    """The same audit on a chooser spoiled in the browser: no page language, a field without its label,
    grey on white, an image without text."""
    page = tab_in("en")
    page.goto(stack.create_transfer(locale="en"))
    page.evaluate(
        """() => {
        document.documentElement.removeAttribute('lang');
        document.querySelector('label[for=q]').remove();
        document.querySelector('h1').style.color = '#bbb';
        document.querySelector('main').append(document.createElement('img'));
    }"""
    )
    audit = Audit(page, "")
    audit.check("spoiled chooser")
    rules = {violation["rule"] for violation in audit.violations()["spoiled chooser"]}
    assert {"html-has-lang", "label", "color-contrast", "image-alt"} <= rules


# --- keyboard only --------------------------------------------------------------------------------------


def _focused(page: Any, selector: str) -> bool:
    return bool(page.evaluate("(s) => document.activeElement !== null && document.activeElement.matches(s)", selector))


def _tab_to(page: Any, selector: str, *, limit: int = 25) -> None:
    """Press Tab until ``selector`` has the focus, which must be visible (an outline)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if _focused(page, selector):
            outline = page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
            )
            assert outline[0] != "none" and outline[1] >= 2, f"{selector}: no visible focus ({outline})"
            return
    pytest.fail(f"{selector} never got the focus after {limit} presses of Tab on {page.url}")


def test_a_keyboard_only_walk_from_the_chooser_through_the_emp_to_the_outcome(page: Any, stack: Stack) -> None:
    page.goto(stack.create_transfer(locale="en"))
    # search, by keyboard; the result count is announced by the new page's status region
    _tab_to(page, "#q")
    page.keyboard.type("Finland")  # the country of the EMREX 1 mock EMP (the 2.0 one is Dutch)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q=Finland$"))
    assert page.locator("[role=status]").inner_text() == "1 result for “Finland”"
    assert page.title() == "1 result for “Finland” – Where did you study?"
    # choose the EMP: Tab into the radio group, Space selects, Enter on the button submits
    _tab_to(page, "input[type=radio][name=emp]")
    page.keyboard.press("Space")
    assert page.get_by_label(MOCK_EMP_LABEL).is_checked()
    _tab_to(page, "form[method=post] button[type=submit]")
    with page.expect_navigation(url=stack.urls["mock_emp"]):
        page.keyboard.press("Enter")  # the redirect page auto-submits to the EMP
    # at the EMP: the first scenario is selected; arrows pick another, Enter on the button sends
    _tab_to(page, "input[name=scenario]:checked")
    page.keyboard.press("ArrowDown")
    assert page.is_checked("#scenario-ok-large-pdf")
    page.keyboard.press("ArrowUp")
    assert page.is_checked("#scenario-ok")
    _tab_to(page, "#send-results")
    with page.expect_navigation(url=re.compile(r"/callback\?state=")):
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Your results have been received"
    assert page.locator("[role=status]").count() == 1
    # and back to the application
    _tab_to(page, "a.button")
    with page.expect_navigation(url=re.compile(r"/return\?")):
        page.keyboard.press("Enter")
    page.screenshot(path=str(ARTIFACTS / "e2e-keyboard-walk-return.png"), full_page=True)
