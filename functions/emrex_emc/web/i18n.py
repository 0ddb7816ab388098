"""Dutch and English texts of the start pages, and country names in both languages.

Texts are plain (unescaped) strings with ``{name}`` placeholders; callers escape after formatting.
"""

from __future__ import annotations

import unicodedata

STRINGS: dict[str, dict[str, str]] = {
    "chooser.title": {
        "en": "Where did you study?",
        "nl": "Waar heb je gestudeerd?",
    },
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
    "redirect.nojs": {
        "en": "If nothing happens, press the button.",
        "nl": "Gebeurt er niets? Druk dan op de knop.",
    },
    "error.restart": {
        "en": "Please go back to the enrolment form and start the transfer again.",
        "nl": "Ga terug naar het inschrijfformulier en start de overdracht opnieuw.",
    },
    "error.back_to_enrolment": {"en": "Back to the enrolment form", "nl": "Terug naar het inschrijfformulier"},
    "error.not_found.title": {"en": "This link is not valid", "nl": "Deze link is niet geldig"},
    "error.not_found.body": {
        "en": "We do not know this link. It may be mistyped or very old.",
        "nl": "We kennen deze link niet. Misschien is hij verkeerd overgenomen of erg oud.",
    },
    "error.expired.title": {"en": "This link has expired", "nl": "Deze link is verlopen"},
    "error.expired.body": {
        "en": "For your security, a link to share results is only valid for a short time.",
        "nl": "Voor je veiligheid is een link om resultaten te delen maar kort geldig.",
    },
    "error.used.title": {"en": "This link has already been used", "nl": "Deze link is al gebruikt"},
    "error.used.body": {
        "en": "A link to share results can be used only once.",
        "nl": "Een link om resultaten te delen kan maar één keer worden gebruikt.",
    },
    "error.csrf.title": {"en": "Please try again", "nl": "Probeer het opnieuw"},
    "error.csrf.body": {
        "en": "Your choice could not be checked (the page may have been open too long). Please choose again.",
        "nl": "Je keuze kon niet worden gecontroleerd (de pagina stond misschien te lang open). Kies opnieuw.",
    },
    "error.back_to_chooser": {"en": "Back to the list", "nl": "Terug naar de lijst"},
    "error.emp_unknown.title": {"en": "Please choose again", "nl": "Kies opnieuw"},
    "error.emp_unknown.body": {
        "en": "Please select one of the listed countries or institutions.",
        "nl": "Kies een van de landen of instellingen uit de lijst.",
    },
    "error.unavailable.title": {"en": "Temporarily unavailable", "nl": "Tijdelijk niet beschikbaar"},
    "error.unavailable.body": {
        "en": "The list of data providers cannot be loaded right now. Please try again in a few minutes.",
        "nl": "De lijst met aanbieders kan nu niet worden geladen. Probeer het over een paar minuten opnieuw.",
    },
}

# ISO 3166-1 alpha-2 -> (English, Dutch): EU, EEA, candidates/neighbours and common countries of origin.
COUNTRY_NAMES: dict[str, tuple[str, str]] = {
    "AT": ("Austria", "Oostenrijk"),
    "BE": ("Belgium", "België"),
    "BG": ("Bulgaria", "Bulgarije"),
    "HR": ("Croatia", "Kroatië"),
    "CY": ("Cyprus", "Cyprus"),
    "CZ": ("Czechia", "Tsjechië"),
    "DK": ("Denmark", "Denemarken"),
    "EE": ("Estonia", "Estland"),
    "FI": ("Finland", "Finland"),
    "FR": ("France", "Frankrijk"),
    "DE": ("Germany", "Duitsland"),
    "GR": ("Greece", "Griekenland"),
    "HU": ("Hungary", "Hongarije"),
    "IE": ("Ireland", "Ierland"),
    "IT": ("Italy", "Italië"),
    "LV": ("Latvia", "Letland"),
    "LT": ("Lithuania", "Litouwen"),
    "LU": ("Luxembourg", "Luxemburg"),
    "MT": ("Malta", "Malta"),
    "NL": ("Netherlands", "Nederland"),
    "PL": ("Poland", "Polen"),
    "PT": ("Portugal", "Portugal"),
    "RO": ("Romania", "Roemenië"),
    "SK": ("Slovakia", "Slowakije"),
    "SI": ("Slovenia", "Slovenië"),
    "ES": ("Spain", "Spanje"),
    "SE": ("Sweden", "Zweden"),
    "IS": ("Iceland", "IJsland"),
    "LI": ("Liechtenstein", "Liechtenstein"),
    "NO": ("Norway", "Noorwegen"),
    "CH": ("Switzerland", "Zwitserland"),
    "GB": ("United Kingdom", "Verenigd Koninkrijk"),
    "AL": ("Albania", "Albanië"),
    "BA": ("Bosnia and Herzegovina", "Bosnië en Herzegovina"),
    "ME": ("Montenegro", "Montenegro"),
    "MK": ("North Macedonia", "Noord-Macedonië"),
    "RS": ("Serbia", "Servië"),
    "XK": ("Kosovo", "Kosovo"),
    "MD": ("Moldova", "Moldavië"),
    "UA": ("Ukraine", "Oekraïne"),
    "GE": ("Georgia", "Georgië"),
    "AM": ("Armenia", "Armenië"),
    "AZ": ("Azerbaijan", "Azerbeidzjan"),
    "TR": ("Türkiye", "Turkije"),
    "AD": ("Andorra", "Andorra"),
    "MC": ("Monaco", "Monaco"),
    "SM": ("San Marino", "San Marino"),
    "VA": ("Vatican City", "Vaticaanstad"),
    "US": ("United States", "Verenigde Staten"),
    "CA": ("Canada", "Canada"),
    "AU": ("Australia", "Australië"),
    "NZ": ("New Zealand", "Nieuw-Zeeland"),
    "CN": ("China", "China"),
    "IN": ("India", "India"),
    "ID": ("Indonesia", "Indonesië"),
    "JP": ("Japan", "Japan"),
    "KR": ("South Korea", "Zuid-Korea"),
    "BR": ("Brazil", "Brazilië"),
    "MX": ("Mexico", "Mexico"),
    "ZA": ("South Africa", "Zuid-Afrika"),
    "MA": ("Morocco", "Marokko"),
    "EG": ("Egypt", "Egypte"),
    "SR": ("Suriname", "Suriname"),
}


def t(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English if missing), with ``{placeholders}`` filled in."""
    texts = STRINGS[key]
    text = texts.get(lang) or texts["en"]
    return text.format(**values) if values else text


def country_name(code: str, lang: str) -> str:
    """The country's name in ``lang``; unknown codes are shown as the code itself."""
    names = COUNTRY_NAMES.get(code.upper())
    if names is None:
        return code.upper()
    return names[1] if lang == "nl" else names[0]


def fold(text: str) -> str:
    """Case- and accent-insensitive form for searching and sorting ("België" -> "belgie")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
