from __future__ import annotations

from datetime import date

import pytest

from emrex_emc.core.elmo.model import Learner
from emrex_emc.core.identity import (
    ExpectedIdentity,
    distance_ratio,
    levenshtein,
    match_identity,
    name_tokens,
)

BIRTH = date(1983, 4, 12)


def learner(given: str, family: str, birth: date | None = BIRTH, birth_name: str | None = None) -> Learner:
    return Learner(given_names=given, family_name=family, birth_date=birth, birth_name=birth_name)


def verdicts(
    learner_given: str, learner_family: str, *, given: str | None = None, family: str | None = None
) -> dict[str, str]:
    """Verdicts for a learner vs an expected applicant that differs only where ``given``/``family`` say."""
    result = match_identity(
        learner(learner_given, learner_family),
        ExpectedIdentity(given or learner_given, family or learner_family, BIRTH),
    )
    fields = {f.field: f.verdict for f in result.fields}
    fields["overall"] = result.verdict
    return fields


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("same", "same", 0)],
)
def test_levenshtein(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance == levenshtein(b, a)


def test_distance_ratio() -> None:
    assert distance_ratio("", "") == 0.0
    assert distance_ratio("anna", "anne") == 0.25
    assert distance_ratio("abc", "xyz") == 1.0


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("Wojciech Łukasz", ("wojciech", "lukasz")),
        ("Søren Kierkegård", ("soren", "kierkegard")),
        ("Ægir Þórsson", ("aegir", "thorsson")),
        ("Strauß", ("strauss",)),
        ("Đorđević", ("dordevic",)),
        ("KERÄNEN", ("keranen",)),
        ("Anne-Marie", ("anne", "marie")),
        ("Anne\u2013Marie", ("anne", "marie")),
        ("O'Brien", ("obrien",)),
        ("O\u2019Brien", ("obrien",)),
        ("  van   der Berg ", ("van", "der", "berg")),
        ("ﬁnn", ("finn",)),  # NFKD compatibility ligature
        ("", ()),
    ],
)
def test_name_normalisation(name: str, tokens: tuple[str, ...]) -> None:
    assert name_tokens(name) == tokens


def test_exact_match() -> None:
    result = match_identity(learner("Jens", "Hansen"), ExpectedIdentity("Jens", "Hansen", BIRTH))
    assert result.verdict == "MATCH"
    assert result.to_json() == {
        "verdict": "MATCH",
        "fields": [
            {
                "field": "given_names",
                "verdict": "MATCH",
                "reason": "same given names (order, case and accents ignored)",
                "method": "exact",
            },
            {
                "field": "family_name",
                "verdict": "MATCH",
                "reason": "same family name (case, accents, hyphens and spaces ignored)",
                "method": "exact",
            },
            {"field": "birth_date", "verdict": "MATCH", "reason": "same birth date", "method": "exact"},
        ],
    }


@pytest.mark.parametrize(
    ("given", "family", "exp_given", "exp_family"),
    [
        ("Wojciech Łukasz", "Rygielski", "Lukasz Wojciech", "RYGIELSKI"),
        ("Anne-Marie", "Keränen", "Anne Marie", "Keranen"),
        ("AnneMarie", "Van der Berg", "Anne-Marie", "Vanderberg"),
        ("Seán", "O'Brien", "Sean", "OBrien"),
        ("Jørgen", "Strauß", "Jorgen", "Strauss"),
    ],
)
def test_normalised_names_match(given: str, family: str, exp_given: str, exp_family: str) -> None:
    assert verdicts(given, family, given=exp_given, family=exp_family) == {
        "given_names": "MATCH",
        "family_name": "MATCH",
        "birth_date": "MATCH",
        "overall": "MATCH",
    }


def test_only_some_given_names_is_review_not_match() -> None:
    result = verdicts("Wojciech Łukasz", "Rygielski", given="Wojciech")
    assert result["given_names"] == "REVIEW" and result["overall"] == "REVIEW"
    assert verdicts("Anna", "Berg", given="Anna Maria")["given_names"] == "REVIEW"


def test_compound_family_name_part_is_review() -> None:
    assert verdicts("Gabriel", "García Márquez", family="Garcia")["family_name"] == "REVIEW"


@pytest.mark.parametrize(("given", "expected"), [("Anna", "Anne"), ("Jens", "Jans"), ("Mohammed", "Muhammed")])
def test_small_typo_is_review(given: str, expected: str) -> None:
    result = match_identity(learner(given, "Hansen"), ExpectedIdentity(expected, "Hansen", BIRTH))
    assert result.verdict == "REVIEW"
    assert "typo" in result.fields[0].reason


@pytest.mark.parametrize(("given", "expected"), [("Jens", "Kari"), ("Li", "Lu"), ("Anna", "Bob")])
def test_different_given_names_mismatch(given: str, expected: str) -> None:
    assert verdicts(given, "Hansen", given=expected)["overall"] == "MISMATCH"


def test_different_family_name_mismatch_even_if_rest_matches() -> None:
    result = verdicts("Jens", "Hansen", family="Jensen")  # two of six letters differ
    assert result["given_names"] == "MATCH" and result["birth_date"] == "MATCH"
    assert result["family_name"] == "MISMATCH" and result["overall"] == "MISMATCH"
    assert verdicts("Jens", "Hansen", family="Hanson")["family_name"] == "REVIEW"  # one letter: possible typo


def test_birth_name_is_an_alternative_family_name() -> None:
    result = match_identity(
        learner("Kaisa", "Virtanen", birth_name="Keränen"), ExpectedIdentity("Kaisa", "Keranen", BIRTH)
    )
    assert result.verdict == "MATCH"
    assert result.fields[1].reason == "the expected family name is the learner's birth name"
    assert verdicts("Kaisa", "Virtanen", family="Keranen")["overall"] == "MISMATCH"  # without the birth name


def test_missing_birth_date_is_review() -> None:
    result = match_identity(learner("Jens", "Hansen", birth=None), ExpectedIdentity("Jens", "Hansen", BIRTH))
    assert result.verdict == "REVIEW"
    assert result.fields[2].verdict == "REVIEW"


def test_different_birth_date_is_mismatch() -> None:
    result = match_identity(
        learner("Jens", "Hansen", birth=date(1983, 4, 13)), ExpectedIdentity("Jens", "Hansen", BIRTH)
    )
    assert result.verdict == "MISMATCH"
    assert result.fields[2].reason == "birth dates differ"


def test_swapped_day_and_month_is_still_mismatch_with_hint() -> None:
    result = match_identity(
        learner("Jens", "Hansen", birth=date(1983, 12, 4)), ExpectedIdentity("Jens", "Hansen", BIRTH)
    )
    assert result.verdict == "MISMATCH"
    assert "swapped" in result.fields[2].reason


@pytest.mark.parametrize(("given", "family"), [("", "Hansen"), ("Jens", ""), ("  ", "-")])
def test_empty_names_are_review(given: str, family: str) -> None:
    result = match_identity(learner(given, family), ExpectedIdentity("Jens", "Hansen", BIRTH))
    assert result.verdict == "REVIEW"
    assert "missing" in " ".join(f.reason for f in result.fields)


def test_any_mismatch_wins_over_review() -> None:
    result = match_identity(learner("Jens", "Hansen", birth=None), ExpectedIdentity("Kari", "Hansen", BIRTH))
    assert [f.verdict for f in result.fields] == ["MISMATCH", "MATCH", "REVIEW"]
    assert result.verdict == "MISMATCH"


def test_reasons_never_contain_the_names_or_dates() -> None:
    result = match_identity(
        learner("Zebulon", "Quixote", birth=date(1901, 2, 3)), ExpectedIdentity("Yvette", "Quixotte", BIRTH)
    )
    text = str(result.to_json()).lower()
    for value in ("zebulon", "quixote", "yvette", "1901", "1983"):
        assert value not in text
