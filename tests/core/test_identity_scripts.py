"""Identity across scripts: the alternative name, transliteration, and the ``method`` of each field."""

from __future__ import annotations

from datetime import date

import pytest

from emrex_emc.core.elmo.model import Learner
from emrex_emc.core.elmo.primitives import LocalizedText
from emrex_emc.core.identity import ExpectedIdentity, IdentityResult, match_identity

BIRTH = date(1999, 4, 5)


def _learner(given: str, family: str, alternative: str | None = None, *, birth: date | None = BIRTH) -> Learner:
    name = LocalizedText(alternative, "el") if alternative is not None else None
    return Learner(given_names=given, family_name=family, birth_date=birth, alternative_name=name)


def _fields(result: IdentityResult) -> dict[str, tuple[str, str]]:
    return {field.field: (field.verdict, field.method) for field in result.fields}


def test_greek_graduate_and_an_applicant_who_typed_greek_match_through_the_alternative_name() -> None:
    result = match_identity(
        _learner("Georgios", "Papadopoulos", "Γεώργιος Παπαδόπουλος"),
        ExpectedIdentity("Γεώργιος", "Παπαδόπουλος", BIRTH),
    )
    assert result.verdict == "MATCH"
    assert _fields(result) == {
        "given_names": ("MATCH", "alternative_name"),
        "family_name": ("MATCH", "alternative_name"),
        "birth_date": ("MATCH", "exact"),
    }


@pytest.mark.parametrize(
    ("given", "family"),
    [
        ("Παπαδόπουλος", "Γεώργιος"),  # the order does not matter
        ("ΓΕΩΡΓΙΟΣ", "ΠΑΠΑΔΟΠΟΥΛΟΣ"),  # nor case and accents
        ("γεωργιος", "παπαδοπουλος"),
    ],
)
def test_the_alternative_name_is_compared_with_both_names_together(given: str, family: str) -> None:
    result = match_identity(
        _learner("Georgios", "Papadopoulos", "Γεώργιος Παπαδόπουλος"), ExpectedIdentity(given, family, BIRTH)
    )
    assert _fields(result)["given_names"] == ("MATCH", "alternative_name")
    assert _fields(result)["family_name"] == ("MATCH", "alternative_name")


def test_the_same_document_and_an_applicant_who_typed_latin_match_exactly() -> None:
    result = match_identity(
        _learner("Georgios", "Papadopoulos", "Γεώργιος Παπαδόπουλος"),
        ExpectedIdentity("Georgios", "Papadopoulos", BIRTH),
    )
    assert result.verdict == "MATCH"
    assert {method for _, method in _fields(result).values()} == {"exact"}


def test_only_the_alternative_name_carries_the_name() -> None:
    result = match_identity(
        _learner("", "", "Γεώργιος Παπαδόπουλος"), ExpectedIdentity("Γεώργιος", "Παπαδόπουλος", BIRTH)
    )
    assert result.verdict == "MATCH"
    assert _fields(result)["given_names"] == ("MATCH", "alternative_name")


def test_an_alternative_name_with_another_given_name_is_review() -> None:
    result = match_identity(
        _learner("Georgios Nikolaos", "Papadopoulos", "Γεώργιος Νικόλαος Παπαδόπουλος"),
        ExpectedIdentity("Γεώργιος", "Παπαδόπουλος", BIRTH),
    )
    assert result.verdict == "REVIEW"
    assert _fields(result)["given_names"] == ("REVIEW", "alternative_name")


def test_latin_names_only_agree_with_greek_input_after_transliteration() -> None:
    result = match_identity(_learner("Georgios", "Papadopoulos"), ExpectedIdentity("Γεώργιος", "Παπαδόπουλος", BIRTH))
    assert result.verdict == "REVIEW"
    assert _fields(result) == {
        "given_names": ("REVIEW", "transliteration"),
        "family_name": ("REVIEW", "transliteration"),
        "birth_date": ("MATCH", "exact"),
    }
    assert "transliterated" in result.fields[0].reason


def test_greek_names_only_and_latin_input_are_review() -> None:
    result = match_identity(_learner("Ευάγγελος", "Παπαδόπουλος"), ExpectedIdentity("Evangelos", "Papadopoulos", BIRTH))
    assert result.verdict == "REVIEW"
    assert {method for field, (_, method) in _fields(result).items() if field != "birth_date"} == {"transliteration"}


def test_a_greek_alternative_name_and_latin_input_that_differs_from_the_latin_names() -> None:
    """The EMP wrote the Latin names its own way; the applicant typed the passport's: REVIEW via the Greek."""
    result = match_identity(
        _learner("Yorgos", "Papadopulos", "Γεώργιος Παπαδόπουλος"), ExpectedIdentity("Georgios", "Papadopoulos", BIRTH)
    )
    assert result.verdict == "REVIEW"
    assert _fields(result)["given_names"] == ("REVIEW", "transliteration")


@pytest.mark.parametrize(
    ("given", "family", "expected_given", "expected_family"),
    [
        ("Дмитрий", "Иванов", "Dmitrii", "Ivanov"),  # Russian passports since 2013
        ("Дмитрий", "Иванов", "Dmitriy", "Ivanov"),  # older Russian passports
        ("Олександр", "Ковальчук", "Oleksandr", "Kovalchuk"),  # Ukraine
        ("Христо", "Стоичков", "Hristo", "Stoichkov"),  # Bulgaria
        ("Новак", "Ђоковић", "Novak", "Đoković"),  # Serbia
        ("Αικατερίνη", "Ιωάννου", "Aikaterini", "Ioannou"),
    ],
)
def test_cyrillic_and_greek_names_are_review_against_their_passport_spelling(
    given: str, family: str, expected_given: str, expected_family: str
) -> None:
    result = match_identity(_learner(given, family), ExpectedIdentity(expected_given, expected_family, BIRTH))
    assert result.verdict == "REVIEW"
    assert _fields(result)["given_names"] == ("REVIEW", "transliteration")
    assert _fields(result)["family_name"] == ("REVIEW", "transliteration")


def test_names_in_the_same_non_latin_script_match_exactly() -> None:
    result = match_identity(_learner("Дмитрий", "Иванов"), ExpectedIdentity("ДМИТРИЙ", "иванов", BIRTH))
    assert result.verdict == "MATCH"
    assert {method for _, method in _fields(result).values()} == {"exact"}


@pytest.mark.parametrize(
    ("learner", "expected"),
    [
        (
            _learner("Georgios", "Papadopoulos", "Γεώργιος Παπαδόπουλος"),
            ExpectedIdentity("Νίκος", "Σφακιανάκης", BIRTH),
        ),
        (_learner("Georgios", "Papadopoulos"), ExpectedIdentity("Дмитрий", "Иванов", BIRTH)),
        (_learner("Дмитрий", "Иванов"), ExpectedIdentity("Georgios", "Papadopoulos", BIRTH)),
    ],
)
def test_different_people_in_different_scripts_mismatch(learner: Learner, expected: ExpectedIdentity) -> None:
    result = match_identity(learner, expected)
    assert result.verdict == "MISMATCH"
    assert _fields(result)["given_names"][0] == "MISMATCH"


def test_a_matching_alternative_name_does_not_hide_another_birth_date() -> None:
    result = match_identity(
        _learner("Georgios", "Papadopoulos", "Γεώργιος Παπαδόπουλος", birth=date(1998, 4, 5)),
        ExpectedIdentity("Γεώργιος", "Παπαδόπουλος", BIRTH),
    )
    assert result.verdict == "MISMATCH"


def test_reasons_quote_no_names_in_any_script() -> None:
    result = match_identity(
        _learner("Georgios", "Papadopoulos", "Γεώργιος Παπαδόπουλος"), ExpectedIdentity("Γιώργος", "Παπαδάκης", BIRTH)
    )
    text = " ".join(field.reason for field in result.fields).casefold()
    for name in ("georgios", "papadopoulos", "γεώργιος", "παπαδόπουλος", "γιώργος", "παπαδάκης", "giorgos"):
        assert name not in text


def test_stored_identity_results_round_trip_and_older_ones_read_as_exact() -> None:
    result = match_identity(
        _learner("Georgios", "Papadopoulos", "Γεώργιος Παπαδόπουλος"),
        ExpectedIdentity("Γεώργιος", "Παπαδόπουλος", BIRTH),
    )
    assert IdentityResult.from_json(result.to_json()) == result
    assert result.to_json()["fields"][0]["method"] == "alternative_name"
    older = {"verdict": "MATCH", "fields": [{"field": "given_names", "verdict": "MATCH", "reason": "same"}]}
    assert IdentityResult.from_json(older).fields[0].method == "exact"


@pytest.mark.parametrize("where", ["given", "family", "alternative"])
def test_a_name_too_long_to_compare_is_review(where: str) -> None:
    huge = "Дмитрий " * 50_000  # a hostile document's name: never transliterated nor edit-distanced
    names = {"given": "Georgios", "family": "Papadopoulos", "alternative": "Γεώργιος Παπαδόπουλος"}
    names[where] = huge
    result = match_identity(
        _learner(names["given"], names["family"], names["alternative"]),
        ExpectedIdentity("Georgios", "Papadopoulos", BIRTH),
    )
    assert _fields(result)["given_names"] == ("REVIEW", "exact") == _fields(result)["family_name"]
    assert result.verdict == "REVIEW" and "too long" in result.fields[0].reason
