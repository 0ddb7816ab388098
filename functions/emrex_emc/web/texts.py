"""Every text a student sees, in each page language: one table, ``key -> {language: text}``.

Texts are plain strings with ``{name}`` placeholders; pages escape them (and the values filled in) when
they are put into HTML. English is the fallback for a missing language.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # the EMP chooser and the redirect to the chosen EMP
    "chooser.title": {"en": "Where did you study?", "nl": "Waar heb je gestudeerd?"},
    "chooser.intro": {
        "en": (
            "Choose the country or institution where you obtained your results. You will be sent there to "
            "log in and select the results to share with us."
        ),
        "nl": (
            "Kies het land of de instelling waar je je resultaten hebt behaald. Je gaat daarheen om in te loggen "
            "en de resultaten te kiezen die je met ons deelt."
        ),
    },
    "chooser.search_label": {"en": "Search by country or institution", "nl": "Zoek op land of instelling"},
    "chooser.search_button": {"en": "Search", "nl": "Zoeken"},
    "chooser.show_all": {"en": "Show all", "nl": "Alles tonen"},
    "chooser.results_for": {"en": "Results for “{query}”", "nl": "Resultaten voor “{query}”"},
    "chooser.no_match": {
        "en": "Nothing matches “{query}”. Try another spelling or show all.",
        "nl": "Niets gevonden voor “{query}”. Probeer een andere spelling of toon alles.",
    },
    "chooser.none_available": {
        "en": "No data providers are available at the moment. Please try again later.",
        "nl": "Er zijn op dit moment geen aanbieders beschikbaar. Probeer het later opnieuw.",
    },
    "chooser.continue": {"en": "Continue", "nl": "Verder"},
    "chooser.more_institutions": {"en": "and {count} more", "nl": "en nog {count}"},
    "redirect.title": {"en": "Sending you to {name}", "nl": "Je wordt doorgestuurd naar {name}"},
    "redirect.body": {
        "en": "You are going to {name} ({country}) to log in and choose your results.",
        "nl": "Je gaat naar {name} ({country}) om in te loggen en je resultaten te kiezen.",
    },
    "redirect.button": {"en": "Continue to {name}", "nl": "Verder naar {name}"},
    "redirect.nojs": {"en": "If nothing happens, press the button.", "nl": "Gebeurt er niets? Druk dan op de knop."},
    "redirect.link_nojs": {
        "en": "If nothing happens, follow the link.",
        "nl": "Gebeurt er niets? Volg dan de link.",
    },
    # outcome pages (after the EMP answered)
    "received.title": {"en": "Your results have been received", "nl": "Je resultaten zijn ontvangen"},
    "received.lead": {
        "en": "Your study results arrived safely and their digital signature was verified.",
        "nl": "Je studieresultaten zijn veilig aangekomen en de digitale handtekening is gecontroleerd.",
    },
    "received.institutions": {"en": "Institution", "nl": "Instelling"},
    "received.courses": {"en": "Number of courses", "nl": "Aantal vakken"},
    "received.credits": {"en": "Credits (ECTS)", "nl": "Studiepunten (ECTS)"},
    "received.review": {
        "en": "The admissions office will check that these results belong to you.",
        "nl": "De toelatingsafdeling controleert of deze resultaten bij jou horen.",
    },
    "cancelled.title": {"en": "The transfer was cancelled", "nl": "De overdracht is geannuleerd"},
    "cancelled.lead": {
        "en": "You cancelled the transfer at the provider. No results were received.",
        "nl": "Je hebt de overdracht bij de aanbieder geannuleerd. Er zijn geen resultaten ontvangen.",
    },
    "no_results.title": {"en": "No results were found", "nl": "Er zijn geen resultaten gevonden"},
    "no_results.lead": {
        "en": "The provider had no results to send for you. No results were received.",
        "nl": "De aanbieder had geen resultaten om te versturen. Er zijn geen resultaten ontvangen.",
    },
    "provider_error.title": {"en": "The provider reported a problem", "nl": "De aanbieder meldt een probleem"},
    "provider_error.lead": {
        "en": "Something went wrong at the provider. No results were received.",
        "nl": "Er ging iets mis bij de aanbieder. Er zijn geen resultaten ontvangen.",
    },
    "provider_error.message": {
        "en": "Message from the provider (not checked by us):",
        "nl": "Bericht van de aanbieder (niet door ons gecontroleerd):",
    },
    "rejected.title": {
        "en": "Your results could not be verified",
        "nl": "Je resultaten konden niet worden gecontroleerd",
    },
    "rejected.lead": {
        "en": (
            "We received a reply, but could not verify that it really comes from the provider, so it was "
            "not accepted. Please try again later or contact the admissions office."
        ),
        "nl": (
            "We hebben een antwoord ontvangen, maar konden niet vaststellen dat het echt van de aanbieder komt. "
            "Het is daarom niet geaccepteerd. Probeer het later opnieuw of neem contact op met de toelatingsafdeling."
        ),
    },
    "support": {"en": "Code for support staff:", "nl": "Code voor de helpdesk:"},
    "back": {"en": "Back to your application", "nl": "Terug naar je aanmelding"},
    # error pages: what went wrong (title, body) and what to do next (advice, link)
    "advice.restart": {
        "en": "Please go back to the enrolment form and start the transfer again.",
        "nl": "Ga terug naar het inschrijfformulier en start de overdracht opnieuw.",
    },
    "advice.retry": {
        "en": "Nothing was saved. Please try again in a few minutes.",
        "nl": "Er is niets opgeslagen. Probeer het over een paar minuten opnieuw.",
    },
    "link.back_to_enrolment": {"en": "Back to the enrolment form", "nl": "Terug naar het inschrijfformulier"},
    "link.back_to_chooser": {"en": "Back to the list", "nl": "Terug naar de lijst"},
    "error.cannot_complete": {
        "en": "This transfer cannot be completed",
        "nl": "Deze overdracht kan niet worden afgerond",
    },
    "error.link_invalid": {"en": "This link is not valid", "nl": "Deze link is niet geldig"},
    "error.unavailable": {"en": "Temporarily unavailable", "nl": "Tijdelijk niet beschikbaar"},
    "error.not_found.title": {"en": "Page not found", "nl": "Pagina niet gevonden"},
    "error.not_found.body": {"en": "There is no page at this address.", "nl": "Op dit adres staat geen pagina."},
    "error.SESSION_NOT_FOUND": {
        "en": "We do not know this link. It may be mistyped or very old.",
        "nl": "We kennen deze link niet. Misschien is hij verkeerd overgenomen of erg oud.",
    },
    "error.expired.title": {"en": "This link has expired", "nl": "Deze link is verlopen"},
    "error.SESSION_EXPIRED": {
        "en": "For your security, a link to share results is only valid for a short time.",
        "nl": "Voor je veiligheid is een link om resultaten te delen maar kort geldig.",
    },
    "error.used.title": {"en": "This link has already been used", "nl": "Deze link is al gebruikt"},
    "error.START_LINK_USED": {
        "en": "A link to share results can be used only once.",
        "nl": "Een link om resultaten te delen kan maar één keer worden gebruikt.",
    },
    "error.CSRF_INVALID.title": {"en": "Please try again", "nl": "Probeer het opnieuw"},
    "error.CSRF_INVALID": {
        "en": "Your choice could not be checked (the page may have been open too long). Please choose again.",
        "nl": "Je keuze kon niet worden gecontroleerd (de pagina stond misschien te lang open). Kies opnieuw.",
    },
    "error.EMP_UNKNOWN.title": {"en": "Please choose again", "nl": "Kies opnieuw"},
    "error.EMP_UNKNOWN": {
        "en": "Please select one of the listed countries or institutions.",
        "nl": "Kies een van de landen of instellingen uit de lijst.",
    },
    "error.REGISTRY_UNAVAILABLE": {
        "en": "The list of data providers cannot be loaded right now. Please try again in a few minutes.",
        "nl": "De lijst met aanbieders kan nu niet worden geladen. Probeer het over een paar minuten opnieuw.",
    },
    "error.STORAGE_UNAVAILABLE": {
        "en": "We could not process the reply right now.",
        "nl": "We konden het antwoord nu niet verwerken.",
    },
    "error.INTERNAL_ERROR": {
        "en": "Something went wrong on our side.",
        "nl": "Er ging bij ons iets mis.",
    },
    "error.BODY_TOO_LARGE": {
        "en": "The reply from the provider is larger than we can accept.",
        "nl": "Het antwoord van de aanbieder is groter dan we kunnen accepteren.",
    },
    "error.FORM_INVALID": {
        "en": "The reply from the provider could not be read.",
        "nl": "Het antwoord van de aanbieder kon niet worden gelezen.",
    },
    "error.UNSUPPORTED_MEDIA_TYPE": {
        "en": "The reply from the provider was not sent as a web form.",
        "nl": "Het antwoord van de aanbieder is niet als webformulier verstuurd.",
    },
    "error.STATE_INVALID": {"en": "This link is not valid.", "nl": "Deze link is niet geldig."},
    "error.STATE_EXPIRED": {"en": "This transfer has expired.", "nl": "Deze overdracht is verlopen."},
    "error.SESSION_MISMATCH": {
        "en": "The reply does not belong to this transfer.",
        "nl": "Het antwoord hoort niet bij deze overdracht.",
    },
    "error.SESSION_ALREADY_COMPLETED": {
        "en": "This transfer has already been completed.",
        "nl": "Deze overdracht is al afgerond.",
    },
    "error.OAUTH_RESPONSE_INVALID": {
        "en": "The reply from the provider is incomplete.",
        "nl": "Het antwoord van de aanbieder is onvolledig.",
    },
    "error.BROWSER_MISMATCH.title": {"en": "Please use the same browser", "nl": "Gebruik dezelfde browser"},
    "error.BROWSER_MISMATCH": {
        "en": (
            "The provider sent you back to another browser than the one you started in, or its cookies were "
            "cleared. For your safety the reply is only accepted in the browser where you started."
        ),
        "nl": (
            "De aanbieder heeft je teruggestuurd naar een andere browser dan waarin je begon, of de cookies zijn "
            "gewist. Voor je veiligheid accepteren we het antwoord alleen in de browser waarin je begon."
        ),
    },
    "error.ISSUER_MISMATCH": {
        "en": "The reply does not come from the provider you chose.",
        "nl": "Het antwoord komt niet van de aanbieder die je hebt gekozen.",
    },
    "error.CLIENT_KEY_UNAVAILABLE": {
        "en": "We could not contact the provider on your behalf right now.",
        "nl": "We konden de aanbieder nu niet namens jou benaderen.",
    },
    "advice.reload": {
        "en": "Nothing was used up. Please reload this page in a minute.",
        "nl": "Er is niets verbruikt. Laad deze pagina over een minuut opnieuw.",
    },
}


def t(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English if missing), with ``{placeholders}`` filled in."""
    texts = TEXTS[key]
    text = texts.get(lang) or texts["en"]
    return text.format(**values) if values else text
