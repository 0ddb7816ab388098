"""The texts of the local demo's enrolment form and its return page, in English (the source), translated by
the gettext domain ``demo`` (``local/locale/<lang>/LC_MESSAGES/demo.po``; ``make i18n`` after a change).

A university's own form speaks the applicant's language; so does the demo, to show the EMC's pages
following the ``locale`` the form sends. So do its error pages; what the EMC's API said in them stays as the
API said it.
"""

from __future__ import annotations

from pathlib import Path

from emrex_emc.web.i18n import Catalog, Source

DOMAIN = "demo"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

DEMO_TEXTS: Source = {
    "form.title": "Enrolment form",
    "form.intro": "Demo university: apply for a master's programme and import your study results with EMREX.",
    "form.given_names": "Given names",
    "form.family_name": "Family name",
    "form.birth_date": "Birth date",
    "form.language": "Language",
    "form.submit": "Import my results with EMREX",
    "return.title": "Welcome back",
    "return.lead": "You are back from EMREX. The EMREX client added these details to the address:",
    "return.unknown": "This form does not know the return reference.",
    "return.status_link": "Transfer status (JSON)",
    "status.title": "Transfer status",
    "status.label": "Status:",
    "status.identity": "identity: {verdict}",
    "status.unavailable": "The status is not available: {error}",
    "error.back": "Back to the form",
    "error.invalid_form.title": "Invalid form",
    "error.invalid_form.message": "The form could not be read.",
    "error.unreachable.title": "EMREX client unreachable",
    "error.unreachable.message": "The EMREX client did not answer: {error}",
    "error.refused.title": "Not accepted",
    "error.refused.message": "The EMREX client refused the request: {error}",
    "error.unknown_transfer.title": "Not found",
    "error.unknown_transfer.message": "This form did not start that transfer.",
}

CATALOG = Catalog(DOMAIN, LOCALE_DIR, DEMO_TEXTS)
