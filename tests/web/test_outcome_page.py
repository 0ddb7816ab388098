"""The outcome page of received results: a result whose issuer the EMP does not cover says admissions will check."""

from __future__ import annotations

import pytest

from emrex_emc.core.outcome import Outcome, ResultSummary
from emrex_emc.core.protocol import Status
from emrex_emc.core.provenance import Provenance, ReportProvenance
from emrex_emc.web.outcome import outcome_page
from emrex_emc.web.texts import t

SUMMARY = ResultSummary(issuers=(), course_count=3, total_ects="18", report_count=1, attachment_count=0)


def _page(provenance: Provenance | None, lang: str = "en") -> str:
    outcome = Outcome(
        status=Status.RECEIVED,
        at="2026-06-01T12:00:00Z",
        return_code="NCP_OK",
        payload_sha256="0" * 64,
        event_id="e",
        summary=SUMMARY,
        provenance=provenance,
    )
    body = outcome_page(outcome, lang=lang, transfer_id="a" * 32, link=None).body
    return body.decode("utf-8") if isinstance(body, bytes) else body


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_a_not_covered_result_says_admissions_will_check(lang: str) -> None:
    page = _page(Provenance("not_covered", (ReportProvenance(0, "not_covered", "uio.no"),)), lang)
    assert 'id="provenance-check"' in page
    assert t(lang, "received.provenance_check").split(". ")[-1].rstrip(".") in page


@pytest.mark.parametrize("verdict", ["covered", "same_country", "unknown"])
def test_other_verdicts_and_older_outcomes_say_nothing_of_it(verdict: str) -> None:
    assert "provenance-check" not in _page(Provenance(verdict, ()))  # type: ignore[arg-type]
    assert "provenance-check" not in _page(None)
