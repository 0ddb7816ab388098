"""What a page tells a student to do next, and whom to ask quoting which code: the same on every page.

A student quotes the transfer's support code (``core.transfer.support_code``) when the transfer is known,
or else the error code the page shows; the error code is shown for support staff in any case.
"""

from __future__ import annotations

from collections.abc import Sequence

from emrex_emc.core.transfer import support_code
from emrex_emc.web.html import EMPTY, Markup, join
from emrex_emc.web.texts import t, t_markup


def ask_with_support_code(lang: str, transfer_id: str) -> Markup:
    """ "Contact the admissions office and quote the support code …" (the code stands out)."""
    code = Markup('<strong class="code">{}</strong>').format(support_code(transfer_id))
    return t_markup(lang, "contact.support_code", code=code)


def ask_with_error_code(lang: str) -> Markup:
    """ "Contact the admissions office and quote the error code below" (see :func:`staff_code`)."""
    return Markup("{}").format(t(lang, "contact.error_code"))


def next_steps(lang: str, steps: Sequence[str], ask: Markup | None) -> Markup:
    """ "What you can do": the ``steps`` (texts), then ``ask`` (whom to ask for help)."""
    items = [Markup("{}").format(step) for step in steps] + ([ask] if ask is not None else [])
    if not items:
        return EMPTY
    return Markup("<h2>{}</h2><ul>{}</ul>").format(
        t(lang, "next.heading"), join(Markup("<li>{}</li>").format(item) for item in items)
    )


def staff_code(lang: str, code: str) -> Markup:
    """The error code, for support staff."""
    return Markup('<p class="muted">{} <code>{}</code></p>').format(t(lang, "support"), code)
