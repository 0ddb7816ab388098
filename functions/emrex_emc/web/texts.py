"""Every text a student sees: the English source, keyed, and :func:`t`, the one way pages get a text.

English here is the source of the gettext catalogs (``locale/<lang>/LC_MESSAGES/emc.po``): each text is
the msgid of the message whose msgctxt is its key. After changing or adding a text, run ``make i18n``:
it updates every catalog (a changed English text marks its translations fuzzy) and compiles them; the
catalog tests fail until each language has a reviewed translation of it.

Texts are plain strings with ``{name}`` placeholders; pages escape them (and the values filled in) when
they are put into HTML (:func:`t_markup` for values that are fragments themselves).
"""

from __future__ import annotations

from markupsafe import Markup

from emrex_emc.web.i18n import LOCALE_DIR, Catalog, Plural, Source

DOMAIN = "emc"

TEXTS: Source = {
    # the EMP chooser and the redirect to the chosen EMP
    "chooser.title": "Where did you study?",
    "chooser.intro": (
        "Choose the country or institution where you obtained your results. You will be sent there to log in "
        "and select the results to share with us."
    ),
    "chooser.search_label": "Search by country or institution",
    "chooser.search_button": "Search",
    "chooser.show_all": "Show all",
    "chooser.match_count": Plural("{count} result for “{query}”", "{count} results for “{query}”"),
    "chooser.no_match": "Nothing matches “{query}”. Try another spelling or show all.",
    "chooser.none_available": (
        "No data providers are available at the moment. Please try again in a few minutes; if the list stays "
        "empty, contact the admissions office."
    ),
    "chooser.continue": "Continue",
    "chooser.more_institutions": Plural("and {count} more", "and {count} more"),
    "redirect.title": "Sending you to {name}",
    "redirect.body": "You are going to {name} ({country}) to log in and choose your results.",
    "redirect.button": "Continue to {name}",
    "redirect.nojs": "If nothing happens, press the button.",
    "redirect.link_nojs": "If nothing happens, follow the link.",
    # outcome pages (after the EMP answered)
    "received.title": "Your results have been received",
    "received.lead": "Your study results arrived safely and their digital signature was verified.",
    "received.institutions": "Institution",
    "received.courses": "Number of courses",
    "received.credits": "Credits (ECTS)",
    "received.attachments": "Attached documents (such as a PDF transcript)",
    "received.review": "The admissions office will check that these results belong to you.",
    "received.provenance_check": (
        "The provider that sent these results is not registered for the institution that issued them. "
        "The admissions office will check them."
    ),
    "cancelled.title": "The transfer was cancelled",
    "cancelled.lead": "You cancelled the transfer at the provider. No results were received.",
    "cancelled.next": "If you did not mean to cancel, go back to your application and start the import again.",
    "no_results.title": "No results were found",
    "no_results.lead": "The provider had no results to send for you. No results were received.",
    "no_results.next": (
        "If you expected results, go back to your application, start the import again and check that you "
        "choose the country or institution where you studied."
    ),
    "provider_error.title": "The provider reported a problem",
    "provider_error.lead": "Something went wrong at the provider. No results were received.",
    "provider_error.message": "Message from the provider (not checked by us):",
    "provider_error.next": (
        "Such problems are usually temporary: go back to your application and try the import again later, "
        "for example in an hour."
    ),
    "rejected.title": "Your results could not be verified",
    "rejected.lead": (
        "We received a reply, but could not verify that it really comes from the provider, so it was not accepted."
    ),
    "rejected.next.later": "If it fails again, the provider may have a temporary problem: try again later.",
    "next.heading": "What you can do",
    "contact.support_code": "If you need help, contact the admissions office and quote the support code {code}.",
    "contact.error_code": "If you need help, contact the admissions office and quote the error code below.",
    "support": "Error code for support staff:",
    "back": "Back to your application",
    # error pages: what went wrong (title, body) and what to do next (advice, link)
    "advice.restart": "Go back to your application and start the import again.",
    "advice.retry": "Nothing was saved. Please try again in a few minutes.",
    "link.back_to_chooser": "Back to the list",
    "error.cannot_complete": "This transfer cannot be completed",
    "error.link_invalid": "This link is not valid",
    "error.unavailable": "Temporarily unavailable",
    "error.not_found.title": "Page not found",
    "error.not_found.body": "There is no page at this address.",
    "error.SESSION_NOT_FOUND": "We do not know this link. It may be mistyped or very old.",
    "error.expired.title": "This link has expired",
    "error.SESSION_EXPIRED": "For your security, a link to share results is only valid for a short time.",
    "error.used.title": "This link has already been used",
    "error.START_LINK_USED": "A link to share results can be used only once.",
    "error.CSRF_INVALID.title": "Please try again",
    "error.CSRF_INVALID": (
        "Your choice could not be checked (the page may have been open too long). Please choose again."
    ),
    "error.EMP_UNKNOWN.title": "Please choose again",
    "error.EMP_UNKNOWN": "Please select one of the listed countries or institutions.",
    "error.REGISTRY_UNAVAILABLE": (
        "The list of data providers cannot be loaded right now. Please try again in a few minutes."
    ),
    "error.STORAGE_UNAVAILABLE": "We could not process the reply right now.",
    "error.INTERNAL_ERROR": "Something went wrong on our side.",
    "error.BODY_TOO_LARGE": "The reply from the provider is larger than we can accept.",
    "error.FORM_INVALID": "The reply from the provider could not be read.",
    "error.UNSUPPORTED_MEDIA_TYPE": "The reply from the provider was not sent as a web form.",
    "error.STATE_INVALID": "This link is not valid.",
    "error.SESSION_MISMATCH": "The reply does not belong to this transfer.",
    "error.SESSION_ALREADY_COMPLETED": "This transfer has already been completed.",
    "error.STATE_EXPIRED": "This transfer has expired.",
    "error.OAUTH_RESPONSE_INVALID": "The reply from the provider is incomplete.",
    "error.BROWSER_MISMATCH.title": "Please use the same browser",
    "error.BROWSER_MISMATCH": (
        "The provider sent you back to another browser than the one you started in, or its cookies were "
        "cleared. For your safety the reply is only accepted in the browser where you started."
    ),
    "error.ISSUER_MISMATCH": "The reply does not come from the provider you chose.",
    "error.CLIENT_KEY_UNAVAILABLE": "We could not contact the provider on your behalf right now.",
    "advice.reload": "Nothing was used up. Please reload this page in a minute.",
}

CATALOG = Catalog(DOMAIN, LOCALE_DIR, TEXTS)


def t(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English if the catalog lacks it), with ``{placeholders}`` filled in."""
    return CATALOG.text(lang, key, **values)


def t_markup(lang: str, key: str, **values: object) -> Markup:
    """The text ``key`` as a fragment whose values may be fragments (``code=Markup("<strong>…")``)."""
    return CATALOG.markup(lang, key, **values)
