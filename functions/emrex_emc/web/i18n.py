"""Page languages (which one a student gets), country names in those languages, and search folding.

Texts themselves are in :mod:`emrex_emc.web.texts`.
"""

from __future__ import annotations

import unicodedata

SUPPORTED_LANGUAGES = ("en", "nl")


def pick_language(requested: str | None, accept_language: str | None) -> str:
    """The page language: an explicit ``locale`` wins, then Accept-Language, then English."""
    for candidate in [requested or "", *_accept_language_tags(accept_language or "")]:
        primary = candidate.strip().lower().replace("_", "-").split("-")[0]
        if primary in SUPPORTED_LANGUAGES:
            return primary
    return "en"


def _accept_language_tags(header: str) -> list[str]:
    weighted: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            weighted.append((quality, tag))
    return [tag for _, tag in sorted(weighted, key=lambda item: -item[0])]


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
