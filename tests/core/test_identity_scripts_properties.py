"""Identity properties across scripts (hypothesis): Greek and Cyrillic names, alternative names, Latin input."""

from __future__ import annotations

import unicodedata
from datetime import date

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from emrex_emc.core.elmo.model import Learner
from emrex_emc.core.elmo.primitives import LocalizedText
from emrex_emc.core.identity import ExpectedIdentity, IdentityResult, match_identity
from emrex_emc.core.transliterate import latin_spellings

GREEK = "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώ"
CYRILLIC = "абвгдежзийклмнопрстуфхцчшщъыьэюяё"
LATIN = "abcdefghijklmnopqrstuvwxyz"
fast = settings(max_examples=60, deadline=None)
birth_dates = st.dates(min_value=date(1950, 1, 1), max_value=date(2010, 12, 31))


def _names(alphabet: str) -> st.SearchStrategy[str]:
    """One to three capitalised words of the alphabet (a given-names or family-name field)."""
    word = st.text(alphabet=alphabet, min_size=2, max_size=9).map(str.capitalize)
    return st.lists(word, min_size=1, max_size=3).map(" ".join)


greek_names = _names(GREEK)
cyrillic_names = _names(CYRILLIC)
latin_names = _names(LATIN)


def _passport(name: str) -> str:
    """The first (passport) Latin spelling, capitalised as a person would type it."""
    return latin_spellings(name)[0].title()


def _learner(given: str, family: str, birth: date, alternative: str | None = None) -> Learner:
    name = LocalizedText(alternative) if alternative is not None else None
    return Learner(given_names=given, family_name=family, birth_date=birth, alternative_name=name)


def _names_by(result: IdentityResult) -> set[tuple[str, str]]:
    return {(field.verdict, field.method) for field in result.fields if field.field != "birth_date"}


def _unaccented_upper(text: str) -> str:
    stripped = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return stripped.upper()


@fast
@given(greek_names, greek_names, birth_dates, st.booleans(), st.booleans())
def test_greek_input_matches_the_greek_alternative_name_of_a_latin_document(
    given_: str, family: str, birth: date, reversed_: bool, disguised: bool
) -> None:
    alternative = f"{family} {given_}" if reversed_ else f"{given_} {family}"
    expected = (_unaccented_upper(given_), _unaccented_upper(family)) if disguised else (given_, family)
    learner = _learner(_passport(given_), _passport(family), birth, alternative)
    result = match_identity(learner, ExpectedIdentity(*expected, birth))
    assert result.verdict == "MATCH"
    assert _names_by(result) == {("MATCH", "alternative_name")}


@fast
@given(greek_names, greek_names, birth_dates)
def test_greek_input_against_latin_names_only_is_review_by_transliteration(
    given_: str, family: str, birth: date
) -> None:
    result = match_identity(
        _learner(_passport(given_), _passport(family), birth), ExpectedIdentity(given_, family, birth)
    )
    assert result.verdict == "REVIEW"
    assert _names_by(result) == {("REVIEW", "transliteration")}


@fast
@given(cyrillic_names, cyrillic_names, birth_dates)
def test_cyrillic_names_against_their_passport_spelling_are_review(given_: str, family: str, birth: date) -> None:
    result = match_identity(
        _learner(given_, family, birth), ExpectedIdentity(_passport(given_), _passport(family), birth)
    )
    assert result.verdict == "REVIEW"
    assert _names_by(result) == {("REVIEW", "transliteration")}


@fast
@given(st.sampled_from([GREEK, CYRILLIC]).flatmap(lambda alphabet: st.tuples(_names(alphabet), _names(alphabet))))
def test_the_same_names_in_the_same_script_match_exactly(names: tuple[str, str]) -> None:
    given_, family = names
    birth = date(2000, 1, 1)
    result = match_identity(
        _learner(given_, family, birth), ExpectedIdentity(_unaccented_upper(given_), family.lower(), birth)
    )
    assert result.verdict == "MATCH"
    assert _names_by(result) == {("MATCH", "exact")}


@fast
@given(greek_names, greek_names, latin_names, latin_names, birth_dates)
def test_across_scripts_without_an_alternative_name_never_match(
    given_: str, family: str, other_given: str, other_family: str, birth: date
) -> None:
    """Transliteration alone is never enough for MATCH, whatever the names."""
    result = match_identity(_learner(given_, family, birth), ExpectedIdentity(other_given, other_family, birth))
    assert result.verdict != "MATCH"
    assert all(field.verdict != "MATCH" for field in result.fields if field.field != "birth_date")


ONE_HALF, OTHER_HALF = "αβγδεζκλμ", "νξπρστφχψωη"
"""Greek letters whose Latin spellings share no letter (ELOT 743): names of one half never agree with the other's."""


@fast
@given(_names(ONE_HALF), _names(ONE_HALF), _names(OTHER_HALF), _names(OTHER_HALF), birth_dates)
def test_nothing_agreeing_is_a_mismatch(
    given_: str, family: str, other_given: str, other_family: str, birth: date
) -> None:
    """A Greek graduate's document (Latin names and the Greek alternative name) vs other names: MISMATCH."""
    learner = _learner(_passport(given_), _passport(family), birth, f"{given_} {family}")
    result = match_identity(learner, ExpectedIdentity(other_given, other_family, birth))
    assert result.verdict == "MISMATCH"


@fast
@given(greek_names, greek_names, birth_dates, birth_dates)
def test_another_birth_date_is_a_mismatch_in_any_script(given_: str, family: str, a: date, b: date) -> None:
    assume(a != b)
    learner = _learner(_passport(given_), _passport(family), a, f"{given_} {family}")
    assert match_identity(learner, ExpectedIdentity(given_, family, b)).verdict == "MISMATCH"


@fast
@given(greek_names, greek_names, birth_dates)
def test_results_survive_storage(given_: str, family: str, birth: date) -> None:
    result = match_identity(
        _learner(_passport(given_), _passport(family), birth), ExpectedIdentity(given_, family, birth)
    )
    assert IdentityResult.from_json(result.to_json()) == result
