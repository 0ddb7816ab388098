"""The texts of the local demo's enrolment form and its return page, in English (the source), translated by
the gettext domain ``demo`` (``local/locale/<lang>/LC_MESSAGES/demo.po``; ``make i18n`` after a change).

A university's own form speaks the applicant's language; so does the demo, to show the EMC's pages
following the ``locale`` the form sends. Its error pages (about the EMC's API) stay English.
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
}

CATALOG = Catalog(DOMAIN, LOCALE_DIR, DEMO_TEXTS)
