"""Student-facing start pages: the EMP chooser, the auto-submit redirect to the EMP, start-link errors.

Pure string building: every dynamic value goes through :func:`html.escape`. The only script is the fixed
one-line auto-submit, allowed by its hash in the page's own Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from emrex_emc.core.registry import Emp
from emrex_emc.web.http import HTML_SECURITY_HEADERS
from emrex_emc.web.i18n import t
from emrex_emc.web.layout import render_page

REDIRECT_FORM_ID = "emrex-redirect"
AUTO_SUBMIT_SCRIPT = f'document.getElementById("{REDIRECT_FORM_ID}").submit();'
AUTO_SUBMIT_SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(AUTO_SUBMIT_SCRIPT.encode()).digest()).decode()
MAX_INSTITUTIONS_SHOWN = 3

_EXTRA_CSS = (
    "<style>ul.emps label{display:inline;font-weight:400;margin:0 0 0 .4rem}"
    "fieldset{border:1px solid #b0b0b0;border-radius:4px;margin:1rem 0;padding:.5rem 1rem}"
    "legend{font-weight:700;padding:0 .3rem}input[type=radio]{width:1.1rem;height:1.1rem}"
    "input[type=radio]:focus{outline:3px solid #f2a900;outline-offset:2px}"
    "form.search{display:flex;gap:.5rem;align-items:flex-end;flex-wrap:wrap}</style>"
)


def _csp(*, script_src: str, form_action: str) -> str:
    directives = []
    replacements = {"script-src": f"script-src {script_src}", "form-action": f"form-action {form_action}"}
    for directive in HTML_SECURITY_HEADERS["content-security-policy"].split(";"):
        name = directive.strip().split(" ")[0]
        directives.append(replacements.get(name, directive.strip()))
    return "; ".join(directives)


CHOOSER_CSP = _csp(script_src="'none'", form_action="'self'")
"""The chooser runs no script and only submits to us."""
REDIRECT_CSP = _csp(script_src=f"'{AUTO_SUBMIT_SCRIPT_HASH}'", form_action="*")
"""Only the fixed auto-submit line may run; the form goes to the EMP (and may be redirected to its login)."""


@dataclass(frozen=True)
class CountryGroup:
    code: str
    name: str
    """In the page language."""
    emps: tuple[Emp, ...]


def chooser_page(
    *,
    lang: str,
    show_all_href: str,
    groups: Sequence[CountryGroup],
    query: str,
    csrf_field: str,
    csrf_value: str,
    any_available: bool,
) -> str:
    """The EMP chooser: a GET search form and a POST form with one radio button per EMP, grouped by country.

    Both forms submit to the page's own URL (no ``action``), so the page works behind any stage prefix.
    """
    q = escape(query)
    parts = [
        f"<h1>{escape(t(lang, 'chooser.title'))}</h1>",
        f"<p>{escape(t(lang, 'chooser.intro'))}</p>",
        '<form class="search" method="get" role="search">'
        f'<div><label for="q">{escape(t(lang, "chooser.search_label"))}</label>'
        f'<input type="search" id="q" name="q" value="{q}" maxlength="100" autocomplete="off"></div>'
        f'<button type="submit">{escape(t(lang, "chooser.search_button"))}</button></form>',
    ]
    if query:
        parts.append(
            f'<p role="status">{escape(t(lang, "chooser.results_for", query=query))} '
            f'<a href="{escape(show_all_href)}">{escape(t(lang, "chooser.show_all"))}</a></p>'
        )
    if not groups:
        key = "chooser.no_match" if query and any_available else "chooser.none_available"
        parts.append(f'<p class="notice">{escape(t(lang, key, query=query))}</p>')
        return render_page(lang=lang, title=t(lang, "chooser.title"), body_html="".join(parts), head_html=_EXTRA_CSS)
    parts.append(f'<form method="post"><input type="hidden" name="{escape(csrf_field)}" value="{escape(csrf_value)}">')
    for group in groups:
        parts.append(f'<fieldset><legend>{escape(group.name)}</legend><ul class="emps">')
        parts.extend(_emp_item(lang, emp) for emp in group.emps)
        parts.append("</ul></fieldset>")
    parts.append(f'<button type="submit">{escape(t(lang, "chooser.continue"))}</button></form>')
    return render_page(lang=lang, title=t(lang, "chooser.title"), body_html="".join(parts), head_html=_EXTRA_CSS)


def _emp_item(lang: str, emp: Emp) -> str:
    element_id = "emp-" + quote(emp.id, safe="")
    details = ""
    if not emp.single_fetch and emp.institutions:
        shown = ", ".join(emp.institutions[:MAX_INSTITUTIONS_SHOWN])
        extra = len(emp.institutions) - MAX_INSTITUTIONS_SHOWN
        if extra > 0:
            shown += " " + t(lang, "chooser.more_institutions", count=extra)
        details = f' <span class="muted">({escape(shown)})</span>'
    return (
        f'<li><input type="radio" name="emp" id="{escape(element_id)}" value="{escape(emp.id)}" required>'
        f'<label for="{escape(element_id)}">{escape(emp.label)}</label>{details}</li>'
    )


def redirect_page(*, lang: str, emp_url: str, emp_name: str, country: str, session_id: str, return_url: str) -> str:
    """The page that posts exactly ``sessionId`` and ``returnUrl`` to the EMP (auto-submit, or the button)."""
    body = (
        f"<h1>{escape(t(lang, 'redirect.title', name=emp_name))}</h1>"
        f"<p>{escape(t(lang, 'redirect.body', name=emp_name, country=country))}</p>"
        f'<form id="{REDIRECT_FORM_ID}" method="post" action="{escape(emp_url)}" '
        'enctype="application/x-www-form-urlencoded">'
        f'<input type="hidden" name="sessionId" value="{escape(session_id)}">'
        f'<input type="hidden" name="returnUrl" value="{escape(return_url)}">'
        f'<p class="muted">{escape(t(lang, "redirect.nojs"))}</p>'
        f'<button type="submit">{escape(t(lang, "redirect.button", name=emp_name))}</button></form>'
        f"<script>{AUTO_SUBMIT_SCRIPT}</script>"
    )
    return render_page(lang=lang, title=t(lang, "redirect.title", name=emp_name), body_html=body)


def message_page(*, lang: str, kind: str, link_href: str | None = None, link_key: str | None = None) -> str:
    """An error page (``kind`` in not_found, expired, used, csrf, emp_unknown, unavailable)."""
    parts = [
        f"<h1>{escape(t(lang, f'error.{kind}.title'))}</h1>",
        f'<p class="notice error">{escape(t(lang, f"error.{kind}.body"))}</p>',
    ]
    if kind in {"not_found", "expired", "used"}:
        parts.append(f"<p>{escape(t(lang, 'error.restart'))}</p>")
    if link_href and link_key:
        parts.append(f'<p><a class="button" href="{escape(link_href)}">{escape(t(lang, link_key))}</a></p>')
    return render_page(lang=lang, title=t(lang, f"error.{kind}.title"), body_html="".join(parts))
