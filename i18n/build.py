"""The page languages' build step: ``make i18n`` (= ``python -m i18n.build``); ``--check`` only reports.

It needs Babel, a development dependency: neither the Lambda layer nor ``make local`` runs it, because
everything it writes is committed and read at run time by the standard library (``json``, ``gettext``):

* ``functions/emrex_emc/web/locale/cldr.json``: country (CLDR territory) names and language names in every
  supported language, and each language's decimal sign, from the CLDR data Babel ships;
* for each gettext domain (:data:`DOMAINS`: the EMC's pages, the local demo's enrolment form), the ``.po``
  catalog of every language but English, brought in line with the English source texts (matched by key,
  the msgctxt): a new text is added untranslated, a text whose English changed keeps its translation but
  marked fuzzy with the previous English beside it, a removed text is dropped; then the ``.mo`` compiled from
  it (fuzzy and untranslated entries are left out, so English shows until a translator has been there).

The ``.po`` files are the translators' sources, edited by hand; this tool never translates anything.
:func:`problems` says what keeps a catalog from being complete (the catalog tests fail on any).
"""

from __future__ import annotations

import argparse
import gettext
import io
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel import Locale
from babel.core import get_cldr_version
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from emrex_emc.local import demo_texts
from emrex_emc.web import i18n as web_i18n
from emrex_emc.web import texts as web_texts
from emrex_emc.web.i18n import SOURCE_LANGUAGE, SUPPORTED_LANGUAGES, Plural, Source

REPO = Path(__file__).resolve().parents[1]
PROJECT = "EMREX client (EMC)"
TRANSLATED = tuple(lang for lang in SUPPORTED_LANGUAGES if lang != SOURCE_LANGUAGE)
REVIEWED = frozenset({"de", "fr", "nl"})
"""Catalogs reviewed with care; every other one says in its header that no native speaker has reviewed it
yet. A reviewer adds the language here and runs ``make i18n`` (which rewrites the header's review line)."""
REVIEWED_TEXT = "reviewed with care (meaning, register, terms); a native speaker's review is still welcome"
NOT_REVIEWED_TEXT = "NOT YET REVIEWED by a native speaker (machine-assisted translation)"
REVIEW_LINE = re.compile(r"^# Review: (.*)$", re.MULTILINE)
PLACEHOLDER = re.compile(r"\{(\w*)\}")
NOT_PLACES = frozenset({"EZ", "QO", "UN", "XA", "XB", "ZZ"})
"""CLDR two-letter region codes that are no country (eurozone, pseudo-locales, unknown)."""
CLDR_LOCALES = {"pt": "pt_PT"}
"""The CLDR locale of a page language where it is not the language's default (European, not Brazilian,
Portuguese): its names, decimal sign and plural rule."""
FIXED_DATE = datetime(2026, 12, 1, tzinfo=UTC)
"""Catalog header dates: fixed, so that an unchanged catalog is written byte for byte the same."""


@dataclass(frozen=True)
class Domain:
    name: str
    directory: Path
    source: Source
    source_file: str
    """Where its English lives (each catalog's header says so)."""
    what: str

    def po_file(self, lang: str) -> Path:
        return self.directory / lang / "LC_MESSAGES" / f"{self.name}.po"

    def mo_file(self, lang: str) -> Path:
        return self.directory / lang / "LC_MESSAGES" / f"{self.name}.mo"


DOMAINS = (
    Domain(
        web_texts.DOMAIN,
        web_i18n.LOCALE_DIR,
        web_texts.TEXTS,
        "functions/emrex_emc/web/texts.py",
        "the student's pages",
    ),
    Domain(
        demo_texts.DOMAIN,
        demo_texts.LOCALE_DIR,
        demo_texts.DEMO_TEXTS,
        "functions/emrex_emc/local/demo_texts.py",
        "the local demo's enrolment form",
    ),
)


# --- CLDR -----------------------------------------------------------------------------------------------


def cldr_table() -> dict[str, Any]:
    """Names and decimal signs, one column per supported language (in ``SUPPORTED_LANGUAGES`` order)."""
    locales = [cldr_locale(lang) for lang in SUPPORTED_LANGUAGES]
    english = Locale.parse(SOURCE_LANGUAGE)
    codes = sorted(
        code for code in map(str, english.territories) if len(code) == 2 and code.isalpha() and code not in NOT_PLACES
    )
    return {
        "source": f"CLDR {get_cldr_version()}",
        "languages": list(SUPPORTED_LANGUAGES),
        "decimal_signs": [locale.number_symbols["latn"]["decimal"] for locale in locales],
        "language_names": {
            code: [locale.languages.get(code) or english.languages[code] for locale in locales]
            for code in SUPPORTED_LANGUAGES
        },
        "territories": {
            code: [locale.territories.get(code) or english.territories[code] for locale in locales] for code in codes
        },
    }


def cldr_locale(lang: str) -> Locale:
    return Locale.parse(CLDR_LOCALES.get(lang, lang))


def cldr_json(table: dict[str, Any]) -> str:
    """Compact JSON, one name table row per line (readable diffs when CLDR changes)."""

    def rows(mapping: dict[str, list[str]]) -> str:
        return ",\n".join(f"  {json.dumps(key)}: {_compact(value)}" for key, value in mapping.items())

    return (
        "{\n"
        f' "source": {json.dumps(table["source"])},\n'
        f' "languages": {_compact(table["languages"])},\n'
        f' "decimal_signs": {_compact(table["decimal_signs"])},\n'
        f' "language_names": {{\n{rows(table["language_names"])}\n }},\n'
        f' "territories": {{\n{rows(table["territories"])}\n }}\n'
        "}\n"
    )


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- catalogs -------------------------------------------------------------------------------------------


def msgid_of(english: str | Plural) -> str | tuple[str, str]:
    return (english.one, english.other) if isinstance(english, Plural) else english


def header_comment(domain: Domain, lang: str) -> str:
    review = REVIEWED_TEXT if lang in REVIEWED else NOT_REVIEWED_TEXT
    return (
        f"# {Locale.parse(lang).english_name} ({lang}) texts of {domain.what}, gettext domain {domain.name}.\n"
        f"# English source: {domain.source_file} (msgctxt = text key, msgid = English text).\n"
        "# After changing the English run `make i18n`, then translate every new or fuzzy entry here.\n"
        f"# Review: {review}"
    )


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, abort_invalid=True)


def updated_catalog(domain: Domain, lang: str, existing: Catalog | None) -> Catalog:
    """The catalog of ``lang`` in line with the English source (see the module docstring)."""
    catalog = Catalog(
        locale=CLDR_LOCALES.get(lang, lang),
        domain=domain.name,
        project=PROJECT,
        version="1",
        header_comment=header_comment(domain, lang),
        creation_date=FIXED_DATE,
        revision_date=FIXED_DATE,
        last_translator="EMREX EMC maintainers",
        language_team=f"{Locale.parse(lang).english_name}",
        fuzzy=False,
    )
    old_by_key = {message.context: message for message in existing or () if message.id and message.context}
    for key, english in domain.source.items():
        msgid = msgid_of(english)
        old = old_by_key.get(key)
        flags = {"python-brace-format"} if PLACEHOLDER.search(msgid_of_text(english)) else set()
        string: str | tuple[str, ...] = ("",) * catalog.num_plurals if isinstance(english, Plural) else ""
        previous: list[str] = []
        if old is not None:
            string = _fit(old.string, isinstance(english, Plural), catalog.num_plurals)
            if old.fuzzy:
                flags.add("fuzzy")
                previous = list(old.previous_id)
            if _as_id(old.id) != msgid and _filled(string):
                flags.add("fuzzy")
                previous = previous or list(_as_tuple(old.id))
        comments = list(old.user_comments) if old is not None else []
        catalog.add(msgid, string, context=key, flags=flags, previous_id=previous, user_comments=comments)
    return catalog


def msgid_of_text(english: str | Plural) -> str:
    return f"{english.one} {english.other}" if isinstance(english, Plural) else english


def _as_id(msgid: str | Sequence[str]) -> str | tuple[str, ...]:
    return msgid if isinstance(msgid, str) else tuple(msgid)


def _as_tuple(msgid: str | Sequence[str]) -> tuple[str, ...]:
    return (msgid,) if isinstance(msgid, str) else tuple(msgid)


def _fit(string: str | Sequence[str] | None, plural: bool, forms: int) -> str | tuple[str, ...]:
    given = [string] if isinstance(string, str) else list(string or [])
    if plural:
        return tuple((given + [""] * forms)[:forms])
    return given[0] if given else ""


def _filled(string: str | Sequence[str]) -> bool:
    return all(part.strip() for part in _as_tuple(string))


def po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=116, no_location=True, ignore_obsolete=True, include_previous=True)
    return out.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def _entries(catalog: Catalog) -> list[tuple[Any, ...]]:
    """What a catalog says, for comparing two of them (not how Babel happens to lay the file out)."""

    def entry(message: Message) -> tuple[Any, ...]:
        return (message.context, _as_id(message.id), _as_id(message.string or ""), sorted(message.flags))

    header = (REVIEW_LINE.findall(catalog.header_comment), str(catalog.locale_identifier), catalog.plural_forms)
    return [header, *(entry(message) for message in catalog if message.id)]


# --- completeness ---------------------------------------------------------------------------------------


def problems(domain: Domain, lang: str, catalog: Catalog) -> list[str]:
    """What keeps ``catalog`` from being complete: a text English has that is missing, untranslated, fuzzy,
    translated from an older English text, short of plural forms, or with other placeholders than English;
    a text English no longer has; a header without the review line it should have."""
    found: list[str] = []
    messages = {message.context: message for message in catalog if message.id}
    for key, english in domain.source.items():
        where = f"{domain.name}/{lang}: {key}"
        message = messages.get(key)
        if message is None:
            found.append(f"{where}: missing")
            continue
        if _as_id(message.id) != msgid_of(english):
            found.append(f"{where}: translates another English text than the source's")
        if message.fuzzy:
            found.append(f"{where}: fuzzy (its English changed: check the translation, then drop the fuzzy flag)")
        strings = _as_tuple(message.string or "")
        if isinstance(english, Plural) and len(strings) != catalog.num_plurals:
            found.append(f"{where}: {len(strings)} plural forms where {lang} has {catalog.num_plurals}")
        if not _filled(strings):
            found.append(f"{where}: not translated")
            continue
        wanted = set(PLACEHOLDER.findall(msgid_of_text(english)))
        for string in strings:
            names = set(PLACEHOLDER.findall(string))
            if names != wanted:
                found.append(f"{where}: placeholders {sorted(names)} where English has {sorted(wanted)}")
    found += [f"{domain.name}/{lang}: {key}: not in the English source" for key in messages if key not in domain.source]
    expected = REVIEWED_TEXT if lang in REVIEWED else NOT_REVIEWED_TEXT
    if REVIEW_LINE.findall(catalog.header_comment) != [expected]:
        found.append(f"{domain.name}/{lang}: the header should say '# Review: {expected}'")
    return found


def compiled_differences(catalog: Catalog, mo_file: Path) -> list[str]:
    """How the compiled ``mo_file`` differs from what ``catalog`` compiles to (messages, plural rule)."""
    name = mo_file.relative_to(REPO) if mo_file.is_relative_to(REPO) else mo_file
    if not mo_file.is_file():
        return [f"{name}: missing"]
    with mo_file.open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    expected = gettext.GNUTranslations(io.BytesIO(mo_bytes(catalog)))
    found = []
    # ``_catalog`` is where GNUTranslations keeps the messages; "" is the header (Babel's version is in it)
    have = {key: value for key, value in compiled._catalog.items() if key != ""}  # type: ignore[attr-defined]
    want = {key: value for key, value in expected._catalog.items() if key != ""}  # type: ignore[attr-defined]
    changed = [key for key in have.keys() | want.keys() if have.get(key) != want.get(key)]
    if changed:
        found.append(f"{name}: {len(changed)} messages differ from its .po")
    if [compiled.plural(n) for n in range(200)] != [expected.plural(n) for n in range(200)]:  # type: ignore[attr-defined]
        found.append(f"{name}: its plural rule differs from its .po")
    return found


# --- the command ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    path: Path
    content: bytes
    up_to_date: bool


def outputs() -> tuple[list[Output], list[str]]:
    """Every file the build writes (and whether the committed one is current), and the catalogs' problems."""
    result: list[Output] = []
    found: list[str] = []
    cldr = cldr_json(cldr_table()).encode("utf-8")
    cldr_file = web_i18n.CLDR_FILE
    result.append(Output(cldr_file, cldr, cldr_file.is_file() and cldr_file.read_bytes() == cldr))
    for domain in DOMAINS:
        for lang in TRANSLATED:
            po_file = domain.po_file(lang)
            existing = read_catalog(po_file) if po_file.is_file() else None
            catalog = updated_catalog(domain, lang, existing)
            same = existing is not None and _entries(existing) == _entries(catalog)
            result.append(Output(po_file, po_bytes(catalog), same))
            mo_file = domain.mo_file(lang)
            result.append(Output(mo_file, mo_bytes(catalog), not compiled_differences(catalog, mo_file)))
            found += problems(domain, lang, catalog)
    return result, found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m i18n.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail if a file is not up to date")
    args = parser.parse_args(argv)
    files, found = outputs()
    stale = [output for output in files if not output.up_to_date]
    if args.check:
        for output in stale:
            print(f"not up to date (run `make i18n`): {output.path.relative_to(REPO)}", file=sys.stderr)
    else:
        for output in stale:
            output.path.parent.mkdir(parents=True, exist_ok=True)
            output.path.write_bytes(output.content)
            print(f"wrote {output.path.relative_to(REPO)}")
    for problem in found:
        print(f"incomplete: {problem}", file=sys.stderr)
    if found:
        print(f"{len(found)} catalog entries need a translator (see above)", file=sys.stderr)
    return 1 if (args.check and stale) or found else 0


if __name__ == "__main__":
    sys.exit(main())
