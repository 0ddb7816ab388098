"""The gettext catalogs: one per official EU language but English (the source), complete (every text English
has, translated, with its placeholders and plural forms), compiled as committed, and up to date with the
English source and CLDR (``make i18n``).
"""

from __future__ import annotations

import dataclasses
import gettext
import io
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from emrex_emc.web.i18n import SUPPORTED_LANGUAGES, Plural
from emrex_emc.web.texts import TEXTS
from i18n import build

CATALOGS = [(domain, lang) for domain in build.DOMAINS for lang in build.TRANSLATED]
IDS = [f"{domain.name}-{lang}" for domain, lang in CATALOGS]
OFFICIAL_EU_LANGUAGES = {"bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr"} | {
    "hu", "it", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv"
}  # fmt: skip


def read(domain: build.Domain, lang: str) -> Catalog:
    return build.read_catalog(domain.po_file(lang))


def test_the_page_languages_are_the_official_eu_languages() -> None:
    assert set(SUPPORTED_LANGUAGES) == OFFICIAL_EU_LANGUAGES and len(SUPPORTED_LANGUAGES) == 24
    assert set(build.TRANSLATED) == OFFICIAL_EU_LANGUAGES - {"en"}


@pytest.mark.parametrize(("domain", "lang"), CATALOGS, ids=IDS)
def test_every_catalog_has_every_text_english_has(domain: build.Domain, lang: str) -> None:
    assert build.problems(domain, lang, read(domain, lang)) == []


@pytest.mark.parametrize(("domain", "lang"), CATALOGS, ids=IDS)
def test_the_compiled_catalog_says_what_its_source_says(domain: build.Domain, lang: str) -> None:
    assert build.compiled_differences(read(domain, lang), domain.mo_file(lang)) == []


def test_catalogs_compiled_catalogs_and_cldr_names_are_up_to_date() -> None:
    files, _ = build.outputs()
    stale = [str(output.path.relative_to(build.REPO)) for output in files if not output.up_to_date]
    assert stale == [], "run `make i18n` and commit what it writes"


def test_the_review_status_is_in_every_catalog_header() -> None:
    for domain, lang in CATALOGS:
        header = read(domain, lang).header_comment
        if lang in {"de", "fr", "nl"}:
            assert f"# Review: {build.REVIEWED_TEXT}" in header
        else:
            assert "# Review: NOT YET REVIEWED by a native speaker" in header, (domain.name, lang)


# --- the checks would notice -------------------------------------------------------------------------


def _emc() -> build.Domain:
    return build.DOMAINS[0]


def test_the_completeness_check_notices_every_kind_of_gap() -> None:
    catalog = read(_emc(), "pl")
    catalog.delete("Where did you study?", context="chooser.title")
    catalog.get("Search", "chooser.search_button").string = ""
    catalog.get("Show all", "chooser.show_all").flags.add("fuzzy")
    catalog.get("Continue to {name}", "redirect.button").string = "Przejdź dalej: {nazwa}"
    plural = catalog.get(("{count} result for “{query}”", "{count} results for “{query}”"), "chooser.match_count")
    plural.string = plural.string[:2]
    catalog.add("Gone", "Nie ma", context="chooser.gone")
    assert build.problems(_emc(), "pl", catalog) == [
        "emc/pl: chooser.title: missing",
        "emc/pl: chooser.search_button: not translated",
        "emc/pl: chooser.show_all: fuzzy (its English changed: check the translation, then drop the fuzzy flag)",
        "emc/pl: chooser.match_count: 2 plural forms where pl has 3",
        "emc/pl: redirect.button: placeholders ['nazwa'] where English has ['name']",
        "emc/pl: chooser.gone: not in the English source",
    ]


def test_a_catalog_without_its_review_line_is_incomplete() -> None:
    catalog = read(_emc(), "de")
    catalog.header_comment = "# German texts"
    assert build.problems(_emc(), "de", catalog) == [f"emc/de: the header should say '# Review: {build.REVIEWED_TEXT}'"]


def test_a_changed_english_text_keeps_its_translation_marked_fuzzy_until_reviewed() -> None:
    changed = dataclasses.replace(
        _emc(),
        source={
            **TEXTS,
            "chooser.title": "Where have you studied?",
            "chooser.new": Plural("{count} new", "{count} new"),
        },
    )
    updated = build.updated_catalog(changed, "nl", read(_emc(), "nl"))
    title = updated.get("Where have you studied?", "chooser.title")
    assert title.string == "Waar heb je gestudeerd?" and title.fuzzy
    assert title.previous_id == ["Where did you study?"]  # shown to the translator
    new = updated.get(("{count} new", "{count} new"), "chooser.new")
    assert new.string == ("", "")
    assert build.problems(changed, "nl", updated) == [
        "emc/nl: chooser.title: fuzzy (its English changed: check the translation, then drop the fuzzy flag)",
        "emc/nl: chooser.new: not translated",
    ]
    # until then the page shows the English text, never a translation of another text
    compiled = gettext.GNUTranslations(io.BytesIO(build.mo_bytes(updated)))
    assert compiled.pgettext("chooser.title", "Where have you studied?") == "Where have you studied?"
    assert compiled.pgettext("chooser.intro", str(TEXTS["chooser.intro"])).startswith("Kies het land")


def test_a_compiled_catalog_that_lags_its_source_is_noticed(tmp_path: Path) -> None:
    catalog = read(_emc(), "sv")
    stale = tmp_path / "emc.mo"
    stale.write_bytes(build.mo_bytes(catalog))
    catalog.get("Search", "chooser.search_button").string = "Sök nu"
    assert build.compiled_differences(catalog, stale) == [f"{stale}: 1 messages differ from its .po"]
    assert build.compiled_differences(catalog, tmp_path / "missing.mo") == [f"{tmp_path / 'missing.mo'}: missing"]


def test_the_cldr_table_has_every_country_in_every_language() -> None:
    table = build.cldr_table()
    assert table["languages"] == list(SUPPORTED_LANGUAGES)
    assert all(len(names) == 24 and all(names) for names in table["territories"].values())
    assert {"NL", "GR", "XK", "IE", "MT"} <= set(table["territories"]) and "ZZ" not in table["territories"]
    assert len(table["decimal_signs"]) == 24
