"""The start link's pages: the EMP chooser (with its search and CSRF cookie) and the redirect to the EMP.

The chooser runs no script and submits only to us; its search is a plain GET form rendered on the
server. The EMREX 1 redirect page posts exactly ``sessionId`` and ``returnUrl`` to the EMP: automatically
with one fixed line of script (allowed by its hash), or with the button.

An EMREX 2.0 choice answers with a page that navigates to the EMP's authorization request (a meta refresh,
and a link): a navigation, not a form submission or a redirect of one, so the chooser's ``form-action 'self'``
does not apply to it, nor to the EMP's own redirects to its login (wherever that is). The same answer sets
the transfer's own flow cookie (``web.flow_cookie``) whose hash the state carries: the redirect back is
accepted only in this browser.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from emrex_emc.core.csrf import CsrfTokens
from emrex_emc.core.discovery import fold
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.registry import Emp
from emrex_emc.core.transfer import Choice, Offer
from emrex_emc.web.flow_cookie import flow_cookie_header
from emrex_emc.web.html import Markup, isolated, isolated_list, join, page
from emrex_emc.web.http import HTML_SECURITY_HEADERS, HttpRequest, HttpResponse, html_response
from emrex_emc.web.i18n import country_name, country_names
from emrex_emc.web.texts import t, t_markup

logger = logging.getLogger(__name__)

CSRF_FIELD = "csrf"
CSRF_COOKIE_SECURE = "__Host-emrex_csrf"
CSRF_COOKIE_PLAIN = "emrex_csrf"
MAX_FORM_BYTES = 4 * 1024
MAX_QUERY_CHARS = 100
MAX_RETURN_URL_CHARS = 1000
MAX_INSTITUTIONS_SHOWN = 3
REDIRECT_FORM_ID = "emrex-redirect"
AUTO_SUBMIT_SCRIPT = f'document.getElementById("{REDIRECT_FORM_ID}").submit();'
AUTO_SUBMIT_SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(AUTO_SUBMIT_SCRIPT.encode()).digest()).decode()

_EXTRA_CSS = Markup(
    "<style>ul.emps label{display:inline;font-weight:400;margin:0 0 0 .4rem}"
    "fieldset{border:1px solid #b0b0b0;border-radius:4px;margin:1rem 0;padding:.5rem 1rem}"
    "legend{font-weight:700;padding:0 .3rem}input[type=radio]{width:1.1rem;height:1.1rem}"
    "input[type=radio]:focus{outline:3px solid #1a1a1a;outline-offset:2px}"
    "form.search{display:flex;gap:.5rem;align-items:flex-end;flex-wrap:wrap}</style>"
)


def _csp(*, script_src: str, form_action: str) -> str:
    replacements = {"script-src": f"script-src {script_src}", "form-action": f"form-action {form_action}"}
    directives = [part.strip() for part in HTML_SECURITY_HEADERS["content-security-policy"].split(";")]
    return "; ".join(replacements.get(directive.split(" ")[0], directive) for directive in directives)


CHOOSER_CSP = _csp(script_src="'none'", form_action="'self'")
"""The chooser runs no script and only submits to us."""
REDIRECT_CSP = _csp(script_src=f"'{AUTO_SUBMIT_SCRIPT_HASH}'", form_action="*")
"""Only the fixed auto-submit line may run; the form goes to the EMP (and may be redirected to its login)."""


@dataclass(frozen=True)
class CountryGroup:
    """The chooser's EMPs of one country, under its name in the page language."""

    code: str
    name: str
    """In the page language."""
    emps: tuple[Emp, ...]


def group_emps(emps: Iterable[Emp], *, lang: str, query: str = "") -> list[CountryGroup]:
    """EMPs matching ``query`` (accent/case-insensitive, on name, host, the institutions it lists or covers and
    the country's name in any page language), grouped by country and sorted by the country name in ``lang``,
    then by label."""
    needle = fold(query.strip())
    by_country: dict[str, list[Emp]] = {}
    for emp in emps:
        if needle and needle not in _search_text(emp):
            continue
        by_country.setdefault(emp.country.upper(), []).append(emp)
    groups = [
        CountryGroup(code, country_name(code, lang), tuple(sorted(items, key=lambda e: (fold(e.label), e.id))))
        for code, items in by_country.items()
    ]
    return sorted(groups, key=lambda g: (fold(g.name), g.code))


def _search_text(emp: Emp) -> str:
    parts = [emp.name, emp.label, emp.host, *emp.institution_names, emp.country, *country_names(emp.country)]
    return fold(" | ".join(parts))


# --- the chooser -------------------------------------------------------------------------------------


def chooser_response(
    request: HttpRequest, offer: Offer, *, csrf: CsrfTokens, base_url: str, lang: str, now: int
) -> HttpResponse:
    """The chooser page, and the CSRF cookie its form needs (kept if the browser already has a valid one)."""
    transfer = offer.transfer
    query = request.query.get("q", "")[:MAX_QUERY_CHARS]
    cookie_name = _cookie_name(base_url)
    cookie_token = request.cookies.get(cookie_name) or ""
    if not csrf.is_cookie_token(cookie_token):
        cookie_token = csrf.new_cookie_token()
    html = chooser_page(
        lang=lang,
        show_all_href=transfer.id,  # relative: /start/{id} from /start/{id}, whatever the stage prefix
        groups=group_emps(offer.emps, lang=lang, query=query),
        query=query,
        csrf_value=csrf.field_value(transfer.id, cookie_token),
        any_available=bool(offer.emps),
    )
    response = html_response(200, html, {"content-security-policy": CHOOSER_CSP})
    secure = "; Secure" if urlsplit(base_url).scheme == "https" else ""
    max_age = max(60, transfer.deadline - now)
    response.cookies.append(
        f"{cookie_name}={cookie_token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    )
    return response


def chooser_page(
    *,
    lang: str,
    show_all_href: str,
    groups: Sequence[CountryGroup],
    query: str,
    csrf_value: str,
    any_available: bool,
) -> str:
    """A GET search form and a POST form with one radio button per EMP, grouped by country.

    Both forms submit to the page's own URL (no ``action``), so the page works behind any stage prefix.
    """
    title = t(lang, "chooser.title")
    parts: list[Markup | str] = [Markup("<h1>{}</h1><p>{}</p>").format(title, t(lang, "chooser.intro"))]
    if not any_available:
        parts.append(Markup('<p class="notice">{}</p>').format(t(lang, "chooser.none_available")))
        return page(lang=lang, title=title, body=join(parts), head=_EXTRA_CSS)
    parts.append(
        Markup(
            '<form class="search" method="get" role="search">'
            '<div><label for="q">{}</label>'
            '<input type="search" id="q" name="q" value="{}" maxlength="100" autocomplete="off"></div>'
            '<button type="submit">{}</button></form>'
        ).format(t(lang, "chooser.search_label"), query, t(lang, "chooser.search_button"))
    )
    if query:
        # the pages run no script: the result count is in the new page's status region and its title
        count = sum(len(group.emps) for group in groups)
        status = (
            t(lang, "chooser.match_count", count=count, query=query)
            if count
            else t(lang, "chooser.no_match", query=query)
        )
        title = f"{status} \N{EN DASH} {title}"
        parts.append(
            Markup('<p role="status" id="search-status" class="notice">{}</p><p><a href="{}">{}</a></p>').format(
                status, show_all_href, t(lang, "chooser.show_all")
            )
        )
    if groups:
        parts.append(
            Markup('<form method="post"><input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_value)
        )
        for group in groups:
            items = join(_emp_item(lang, emp) for emp in group.emps)
            parts.append(
                Markup('<fieldset><legend>{}</legend><ul class="emps">{}</ul></fieldset>').format(group.name, items)
            )
        parts.append(Markup('<button type="submit">{}</button></form>').format(t(lang, "chooser.continue")))
    return page(lang=lang, title=title, body=join(parts), head=_EXTRA_CSS)


def _emp_item(lang: str, emp: Emp) -> Markup:
    element_id = "emp-" + quote(emp.id, safe="")
    details = Markup("")
    institutions = emp.institution_names
    if not emp.single_fetch and institutions:
        shown = isolated_list(institutions[:MAX_INSTITUTIONS_SHOWN])
        extra = len(institutions) - MAX_INSTITUTIONS_SHOWN
        if extra > 0:
            shown += " " + t(lang, "chooser.more_institutions", count=extra)
        details = Markup(' <span class="muted">({})</span>').format(shown)
    host = Markup(' <span class="muted host">{}</span>').format(emp.host) if emp.host else Markup("")
    return Markup(
        '<li><input type="radio" name="emp" id="{id}" value="{value}" required>'
        '<label for="{id}" dir="auto">{label}</label>{host}{details}</li>'  # dir: bidi-isolated, in any script
    ).format(id=element_id, value=emp.id, label=emp.label, host=host, details=details)


# --- choosing ----------------------------------------------------------------------------------------


def choice_form(request: HttpRequest, *, csrf: CsrfTokens, transfer_id: str, base_url: str) -> str:
    """The chosen EMP's id from a genuine chooser form; raises ``EmrexError`` ``CSRF_INVALID`` otherwise."""
    form = _small_form(request)
    cookie = request.cookies.get(_cookie_name(base_url))
    if form is None or not csrf.check(transfer_id, cookie, form.get(CSRF_FIELD)):
        raise EmrexError(ErrorCode.CSRF_INVALID, "the chooser form's CSRF check failed")
    return form.get("emp", "")


def redirect_response(choice: Choice, *, base_url: str, lang: str, now: int) -> HttpResponse:
    """Where the browser goes for the chosen EMP: the EMREX 1 auto-post or the EMREX 2.0 authorization request."""
    if choice.authorization_url is not None and choice.flow_cookie is not None:
        return _authorization_response(choice, base_url=base_url, lang=lang, now=now)
    return_url = f"{base_url}/callback?state={choice.state}"
    if len(return_url) > MAX_RETURN_URL_CHARS:  # a misconfigured base URL; EMPs may truncate it
        logger.error("returnUrl too long for EMPs", extra={"chars": len(return_url), "max_chars": MAX_RETURN_URL_CHARS})
    emp = choice.emp
    html = redirect_page(
        lang=lang,
        emp_url=emp.url,
        emp_name=emp.label,
        country=country_name(emp.country, lang),
        session_id=choice.session_id,
        return_url=return_url,
    )
    return html_response(200, html, {"content-security-policy": REDIRECT_CSP})


def redirect_page(*, lang: str, emp_url: str, emp_name: str, country: str, session_id: str, return_url: str) -> str:
    title = t(lang, "redirect.title", name=emp_name)
    body = Markup(
        "<h1>{title}</h1><p>{lead}</p>"
        '<form id="{form_id}" method="post" action="{emp_url}" enctype="application/x-www-form-urlencoded">'
        '<input type="hidden" name="sessionId" value="{session_id}">'
        '<input type="hidden" name="returnUrl" value="{return_url}">'
        '<p class="muted">{nojs}</p><button type="submit">{button}</button></form>'
        "<script>{script}</script>"
    ).format(
        title=t_markup(lang, "redirect.title", name=isolated(emp_name)),
        lead=t_markup(lang, "redirect.body", name=isolated(emp_name), country=country),
        form_id=REDIRECT_FORM_ID,
        emp_url=emp_url,
        session_id=session_id,
        return_url=return_url,
        nojs=t(lang, "redirect.nojs"),
        button=t_markup(lang, "redirect.button", name=isolated(emp_name)),
        script=Markup(AUTO_SUBMIT_SCRIPT),
    )
    return page(lang=lang, title=title, body=body)


def _authorization_response(choice: Choice, *, base_url: str, lang: str, now: int) -> HttpResponse:
    emp, url, cookie = choice.emp, choice.authorization_url or "", choice.flow_cookie or ""
    title = t(lang, "redirect.title", name=emp.label)
    body = Markup(
        '<h1>{title}</h1><p>{lead}</p><p class="muted">{nojs}</p>'
        '<p><a class="button" id="emrex-authorize" href="{url}" rel="noreferrer">{button}</a></p>'
    ).format(
        title=t_markup(lang, "redirect.title", name=isolated(emp.label)),
        lead=t_markup(lang, "redirect.body", name=isolated(emp.label), country=country_name(emp.country, lang)),
        nojs=t(lang, "redirect.link_nojs"),
        url=url,
        button=t_markup(lang, "redirect.button", name=isolated(emp.label)),
    )
    head = Markup('<meta http-equiv="refresh" content="0;url={}">').format(url)
    response = html_response(200, page(lang=lang, title=title, body=body, head=head))
    max_age = max(60, choice.transfer.deadline - now)
    response.cookies.append(flow_cookie_header(base_url, choice.transfer.id, cookie, max_age))
    return response


def _cookie_name(base_url: str) -> str:
    return CSRF_COOKIE_SECURE if urlsplit(base_url).scheme == "https" else CSRF_COOKIE_PLAIN


def _small_form(request: HttpRequest) -> Mapping[str, str] | None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded" or len(request.body) > MAX_FORM_BYTES:
        return None
    try:
        return request.form(max_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
