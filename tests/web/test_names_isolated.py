"""Names that came from a document or a registry, in any script, are shown bidi-isolated (``<bdi>`` or
``dir="auto"``) and escaped: a right-to-left name or a bidi override in it cannot reorder the page's sentence
around it, nor become markup."""

from __future__ import annotations

from typing import Any

import lxml.html
import pytest

from emrex_emc.core.outcome import IssuerSummary, Outcome, ResultSummary
from emrex_emc.core.protocol import ProtocolVersion, Status
from emrex_emc.core.registry import Emp
from emrex_emc.core.transfer import Choice
from emrex_emc.web.outcome import outcome_page
from emrex_emc.web.start import chooser_page, group_emps, redirect_page, redirect_response
from tests.functions.conftest import new_transfer

RLO = "\u202e"
ARABIC = f"جامعة القاهرة {RLO}<b>x</b>"
HEBREW = f"האוניברסיטה העברית {RLO}<i>y</i> (2)"


def _isolated_texts(html: str, where: str = "//body") -> list[str]:
    """The texts of the ``<bdi>`` and ``dir="auto"`` elements under ``where``."""
    (root,) = lxml.html.fromstring(html).xpath(where)
    return [element.text_content() for element in root.xpath(".//bdi | .//*[@dir='auto']")]


def _not_markup(html: str) -> None:
    assert "<b>" not in html and "<i>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html or "&lt;i&gt;y&lt;/i&gt;" in html


def _outcome(status: Status, **fields: Any) -> str:
    outcome = Outcome(
        status=status, at="2026-06-01T12:00:00Z", return_code="X", event_id="e", payload_sha256="0" * 64, **fields
    )
    return str(outcome_page(outcome, lang="de", transfer_id="a" * 32, link=None).body)


def test_issuer_names_on_the_outcome_page_are_isolated_one_by_one() -> None:
    issuers = (IssuerSummary(ARABIC, "EG"), IssuerSummary(HEBREW, "IL"))
    summary = ResultSummary(issuers=issuers, course_count=2, total_ects="10", report_count=2, attachment_count=0)
    html = _outcome(Status.RECEIVED, summary=summary)
    _not_markup(html)
    assert _isolated_texts(html, "//table") == [ARABIC, HEBREW]
    (cell,) = lxml.html.fromstring(html).xpath("//table//td[bdi]")
    assert cell.text_content() == f"{ARABIC}, {HEBREW}"  # nothing of them outside their bdi but the comma


def test_the_emps_message_on_the_outcome_page_is_isolated() -> None:
    html = _outcome(Status.PROVIDER_ERROR, return_message=ARABIC)
    _not_markup(html)
    assert _isolated_texts(html) == [ARABIC]


def _emp(**fields: Any) -> Emp:
    values: dict[str, Any] = {"id": "eg-1", "name": HEBREW, "url": "https://emp.example/", "country": "EG"}
    return Emp(**(values | fields))


def test_emp_and_institution_names_in_the_chooser_are_isolated() -> None:
    emp = _emp(institutions=(ARABIC, "Université <Paris>", "U3", "U4"))
    html = chooser_page(
        lang="el", show_all_href="x", groups=group_emps([emp], lang="el"), query="", csrf_value="c", any_available=True
    )
    _not_markup(html)
    assert _isolated_texts(html, "//ul[@class='emps']") == [HEBREW, ARABIC, "Université <Paris>", "U3"]
    (label,) = lxml.html.fromstring(html).xpath("//label[@for='emp-eg-1']")
    assert label.get("dir") == "auto" and label.text_content() == HEBREW


def test_the_emp_name_on_the_emrex1_redirect_page_is_isolated() -> None:
    html = redirect_page(
        lang="de",
        emp_url="https://emp.example/",
        emp_name=HEBREW,
        country="Israel",
        session_id="s",
        return_url="https://emc.example/callback",
    )
    _not_markup(html)
    assert _isolated_texts(html, "//main") == [HEBREW] * 3  # heading, lead, button


@pytest.mark.parametrize("lang", ["en", "el"])
def test_the_emp_name_on_the_emrex2_redirect_page_is_isolated(lang: str) -> None:
    transfer = new_transfer(locale=lang)
    emp = _emp(protocol=ProtocolVersion.EMREX_2)
    choice = Choice(
        transfer, emp, "f" * 32, "state", authorization_url="https://emp.example/authorize", flow_cookie="c"
    )
    html = str(redirect_response(choice, base_url="https://emc.example", lang=lang, now=transfer.deadline - 1800).body)
    _not_markup(html)
    assert _isolated_texts(html, "//main") == [HEBREW] * 3  # heading, lead, link
