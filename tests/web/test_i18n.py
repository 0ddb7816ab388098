"""Choosing the page language, reading the compiled catalogs at run time, and the CLDR names."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from markupsafe import Markup

from emrex_emc.local.demo_texts import CATALOG as DEMO_CATALOG
from emrex_emc.local.demo_texts import DEMO_TEXTS
from emrex_emc.web.i18n import (
    SUPPORTED_LANGUAGES,
    Catalog,
    country_name,
    country_names,
    decimal,
    language_name,
    pick_language,
    primary_language,
)
from emrex_emc.web.texts import TEXTS, t, t_markup

REPO = Path(__file__).resolve().parents[2]
VALUES = {"count": 3, "query": "q", "name": "N", "country": "C", "code": "X", "verdict": "V", "error": "E"}


@pytest.mark.parametrize(
    ("requested", "accept_language", "expected"),
    [
        ("nl-NL", "de", "nl"),
        ("PT_pt", None, "pt"),
        ("", "ga-IE,en;q=0.5", "ga"),
        (None, "en-US;q=0.2, hr;q=0.9", "hr"),
        ("tlh", "tr, el;q=0.1", "el"),  # an unsupported locale gives way to the browser's languages
        (None, "da;q=0, sv;q=0.1", "sv"),  # q=0 means "not acceptable"
        (None, "da;q=abc, sv;q=0.1", "sv"),  # a malformed weight is skipped
        (None, "*, fi;q=0.5", "fi"),
        (None, "zh-CN", "en"),
        (None, None, "en"),
    ],
)
def test_pick_language(requested: str | None, accept_language: str | None, expected: str) -> None:
    assert pick_language(requested, accept_language) == expected


def test_a_hostile_accept_language_header_is_read_only_so_far() -> None:
    assert pick_language(None, "x," * 5000 + "de") == "en"  # past the bound: not read
    assert pick_language(None, ";q=" * 10_000) == "en"
    assert primary_language("../../etc/passwd") is None


def test_every_text_has_its_translation_in_every_language() -> None:
    for lang in SUPPORTED_LANGUAGES:
        for key in TEXTS:
            assert t(lang, key, **VALUES).strip()
        for key in DEMO_TEXTS:
            assert DEMO_CATALOG.text(lang, key, **VALUES).strip()
        if lang != "en":  # read from the compiled catalog, not English
            assert t(lang, "chooser.title") != "Where did you study?"
            assert DEMO_CATALOG.text(lang, "form.submit") != "Import my results with EMREX"


@pytest.mark.parametrize(
    ("lang", "counts", "expected"),
    [
        ("en", (1, 2, 5), ["1 result", "2 results", "5 results"]),
        ("pl", (1, 2, 5, 22, 112), ["1 wynik ", "2 wyniki ", "5 wyników ", "22 wyniki ", "112 wyników "]),
        ("sl", (1, 2, 3, 5, 101), ["1 zadetek ", "2 zadetka ", "3 zadetki ", "5 zadetkov ", "101 zadetek "]),
        ("lv", (1, 2, 10, 21), ["1 rezultāts ", "2 rezultāti ", "10 rezultātu ", "21 rezultāts "]),
        ("ga", (1, 2, 3, 7, 11), ["1 toradh ", "2 thoradh ", "3 thoradh ", "7 dtoradh ", "11 toradh "]),
    ],
)
def test_plural_texts_take_the_form_of_the_language(lang: str, counts: tuple[int, ...], expected: list[str]) -> None:
    texts = [t(lang, "chooser.match_count", count=count, query="x") for count in counts]
    assert [text[: len(start)] for text, start in zip(texts, expected, strict=True)] == expected


def test_t_markup_escapes_the_text_and_plain_values_but_keeps_fragments() -> None:
    fragment = t_markup("en", "contact.support_code", code=Markup("<strong>{}</strong>").format("A<B"))
    assert fragment == Markup(
        "If you need help, contact the admissions office and quote the support code <strong>A&lt;B</strong>."
    )
    assert "&lt;i&gt;" in t_markup("en", "contact.support_code", code="<i>")


def test_an_unsupported_language_or_a_missing_catalog_shows_english(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert t("../../../etc/passwd", "chooser.title") == "Where did you study?"  # never a file name
    empty = Catalog("emc", tmp_path, TEXTS)
    with caplog.at_level(logging.ERROR):
        assert empty.text("de", "chooser.title") == "Where did you study?"
    (record,) = [record for record in caplog.records if record.getMessage() == "no compiled catalog: English is shown"]
    assert (record.domain, record.lang) == ("emc", "de")


def test_country_and_language_names_from_cldr() -> None:
    assert country_name("GR", "el") == "Ελλάδα" and country_name("gr", "en") == "Greece"
    assert country_name("DE", "fr") == "Allemagne" and country_name("NL", "ga") == "an Ísiltír"
    assert country_name("CZ", "pt") == "Chéquia"  # European Portuguese
    assert country_name("XK", "sq") == "Kosovo"  # a language we do not have: English
    assert country_name("QQ", "de") == "QQ"
    assert len(country_names("NO")) == 24 and "Noorwegen" in country_names("NO")
    assert language_name("el", "el") == "Ελληνικά" and language_name("ga", "en") == "Irish"
    assert language_name("mt", "de") == "Maltesisch"


def test_decimal_sign_of_the_language() -> None:
    assert (decimal("7.5", "en"), decimal("7.5", "de"), decimal("7.5", "ga"), decimal("30", "fr")) == (
        "7.5",
        "7,5",
        "7.5",
        "30",
    )


def test_the_pages_need_no_babel_at_run_time() -> None:
    """Babel builds the catalogs and the CLDR table; the functions (and ``make local``) only read them."""
    script = """
import sys
sys.modules["babel"] = None  # importing it now fails
from emrex_emc.web.i18n import SUPPORTED_LANGUAGES, country_name, language_name
from emrex_emc.web.texts import t
from emrex_emc.local.demo_texts import CATALOG
for lang in SUPPORTED_LANGUAGES:
    t(lang, "chooser.match_count", count=2, query="x"), country_name("IE", lang), language_name(lang, lang)
    CATALOG.text(lang, "form.title")
print(t("el", "chooser.title"), country_name("IE", "ga"))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=REPO, env=_env()
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "Πού σπουδάσατε; Éire"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "functions"), str(REPO)])}
