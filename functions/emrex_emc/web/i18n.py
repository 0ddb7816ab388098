"""Page languages: which one a student gets, the gettext catalogs of texts, CLDR names, and search folding.

Every official EU language is supported. A page's texts are English source strings (the msgids, each
with its text key as msgctxt, see :mod:`emrex_emc.web.texts`) translated by a gettext catalog per language:
``locale/<lang>/LC_MESSAGES/<domain>.mo``, compiled from the ``.po`` next to it by ``make i18n`` and
committed, so the standard library reads them at run time and nothing is built on deployment. Country and
language names and the decimal sign come from CLDR through ``locale/cldr.json``, a compact table that
``make i18n`` generates with Babel (a build-time tool only: neither the layer nor the functions import it).
"""

from __future__ import annotations

import gettext
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from threading import Lock
from typing import Any

from markupsafe import Markup, escape

logger = logging.getLogger(__name__)

SUPPORTED_LANGUAGES = (
    "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr",
    "hu", "it", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv",
)  # fmt: skip
"""The 24 official languages of the EU (ISO 639-1), the page languages; English is the source language."""
SOURCE_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CLDR_FILE = LOCALE_DIR / "cldr.json"
MAX_ACCEPT_LANGUAGE_CHARS = 1000
MAX_ACCEPT_LANGUAGE_TAGS = 20


def primary_language(tag: str) -> str | None:
    """The supported language of a tag (``nl``, ``nl-NL``, ``pt_BR``, ``EN-gb``), or None."""
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in SUPPORTED_LANGUAGES else None


def pick_language(requested: str | None, accept_language: str | None) -> str:
    """The page language: an explicit ``locale`` wins, then Accept-Language (by quality), then English."""
    for candidate in [requested or "", *_accept_language_tags(accept_language or "")]:
        language = primary_language(candidate)
        if language is not None:
            return language
    return SOURCE_LANGUAGE


def _accept_language_tags(header: str) -> list[str]:
    """The header's tags, best first; ``q=0`` ("not acceptable") and malformed weights are left out."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:MAX_ACCEPT_LANGUAGE_CHARS].split(",")[:MAX_ACCEPT_LANGUAGE_TAGS]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if tag.strip() and 0 < quality <= 1:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


# --- texts ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plural:
    """An English text that depends on a number ``{count}``; catalogs hold as many forms as the language has."""

    one: str
    other: str


Source = Mapping[str, "str | Plural"]
"""Text key -> English text: the msgid of the key's message (its msgctxt is the key)."""


class Catalog:
    """The texts of one gettext domain: English in ``source``, translations in ``directory``'s catalogs.

    A language without a compiled catalog (or a message missing from one) falls back to English; the
    catalog tests make sure neither happens.
    """

    def __init__(self, domain: str, directory: Path, source: Source) -> None:
        self.domain = domain
        self.directory = directory
        self.source = source
        self._loaded: dict[str, gettext.NullTranslations] = {}
        self._lock = Lock()

    def mo_file(self, lang: str) -> Path:
        return self.directory / lang / "LC_MESSAGES" / f"{self.domain}.mo"

    def translations(self, lang: str) -> gettext.NullTranslations:
        """The compiled catalog of ``lang`` (a supported language), read once per process."""
        loaded = self._loaded.get(lang)
        if loaded is not None:
            return loaded
        with self._lock:
            if lang not in self._loaded:
                self._loaded[lang] = self._read(lang)
            return self._loaded[lang]

    def _read(self, lang: str) -> gettext.NullTranslations:
        if lang == SOURCE_LANGUAGE or lang not in SUPPORTED_LANGUAGES:
            return gettext.NullTranslations()
        try:
            with self.mo_file(lang).open("rb") as file:
                return gettext.GNUTranslations(file)
        except OSError:
            logger.error("no compiled catalog: English is shown", extra={"domain": self.domain, "lang": lang})
            return gettext.NullTranslations()

    def text(self, lang: str, key: str, **values: object) -> str:
        """The text ``key`` in ``lang``, with its ``{placeholders}`` filled in (plain text: escape it in pages).

        A :class:`Plural` text takes its form from the ``count`` value.
        """
        english = self.source[key]
        translations = self.translations(lang)
        if isinstance(english, Plural):
            count = values["count"]
            if not isinstance(count, int):
                raise TypeError(f"{key}: count must be an int")
            text = translations.npgettext(key, english.one, english.other, count)
        else:
            text = translations.pgettext(key, english)
        return text.format(**values) if values else text

    def markup(self, lang: str, key: str, **values: object) -> Markup:
        """Like :meth:`text`, for a text whose values are fragments (``Markup``): the text is escaped, then
        filled in; plain values are escaped too."""
        english = self.source[key]
        if isinstance(english, Plural):
            raise TypeError(f"{key}: plural texts take no markup")
        return escape(self.translations(lang).pgettext(key, english)).format(**values)


# --- CLDR names -----------------------------------------------------------------------------------------


@cache
def _cldr() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CLDR_FILE.read_bytes())
    return data


def _column(lang: str) -> int:
    languages: list[str] = _cldr()["languages"]
    return languages.index(lang) if lang in languages else languages.index(SOURCE_LANGUAGE)


def country_name(code: str, lang: str) -> str:
    """The country's (CLDR territory's) name in ``lang``; unknown codes are shown as the code itself."""
    names: list[str] | None = _cldr()["territories"].get(code.upper())
    return names[_column(lang)] if names else code.upper()


def country_names(code: str) -> tuple[str, ...]:
    """The country's name in every supported language (what the chooser's search matches)."""
    names: list[str] | None = _cldr()["territories"].get(code.upper())
    return tuple(names) if names else (code.upper(),)


def language_name(code: str, lang: str) -> str:
    """The name of the language ``code`` in ``lang``; ``language_name(x, x)`` is its own name."""
    names: list[str] | None = _cldr()["language_names"].get(code)
    return names[_column(lang)] if names else code


def decimal(value: str, lang: str) -> str:
    """A decimal number as text (``7.5``) with the decimal sign of ``lang`` (``7,5`` in Dutch)."""
    sign: str = _cldr()["decimal_signs"][_column(lang)]
    return value.replace(".", sign) if sign != "." else value
