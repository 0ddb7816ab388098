from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from emrex_emc.core.elmo.model import Learner
from emrex_emc.core.identity import ExpectedIdentity, match_identity

LETTERS = "abcdefghijklmnopqrstuvwxyzáéíóúàèäöüåøłæßđþñçšžč"
ACCENTS = {"a": "á", "e": "é", "o": "ö", "u": "ü", "n": "ñ", "c": "č", "s": "š"}
name_part = st.text(alphabet=LETTERS, min_size=2, max_size=10)
names = st.lists(name_part, min_size=1, max_size=4)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2015, 12, 31))
fast = settings(max_examples=50, deadline=None)


def _verdict(learner_given: str, learner_family: str, given_: str, family: str, birth: date) -> str:
    learner = Learner(given_names=learner_given, family_name=learner_family, birth_date=birth)
    return match_identity(learner, ExpectedIdentity(given_, family, birth)).verdict


@fast
@given(names, names, birth_dates, st.randoms(use_true_random=False))
def test_given_names_in_any_order_match(given_parts: list[str], family: list[str], birth: date, rnd: object) -> None:
    shuffled = list(given_parts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert _verdict(" ".join(shuffled), " ".join(family), " ".join(given_parts), " ".join(family), birth) == "MATCH"


@fast
@given(names, names, birth_dates, st.lists(st.booleans(), min_size=40, max_size=40))
def test_case_and_diacritics_changes_match(
    given_parts: list[str], family: list[str], birth: date, flips: list[bool]
) -> None:
    def disguise(text: str) -> str:
        out = []
        for i, ch in enumerate(text):
            flip = flips[i % len(flips)]
            shown = ACCENTS.get(ch, ch) if flip else ch
            out.append(shown.upper() if flip else shown)
        return "".join(out)

    given_ = " ".join(given_parts)
    family_ = "-".join(family)
    assert _verdict(disguise(given_), disguise(family_).replace("-", " "), given_, family_, birth) == "MATCH"


@fast
@given(names, names, birth_dates, birth_dates)
def test_different_birth_dates_always_mismatch(given_parts: list[str], family: list[str], a: date, b: date) -> None:
    if a == b:
        return
    learner = Learner(given_names=" ".join(given_parts), family_name=" ".join(family), birth_date=a)
    result = match_identity(learner, ExpectedIdentity(" ".join(given_parts), " ".join(family), b))
    assert result.verdict == "MISMATCH"


@fast
@given(names, names, names, names, birth_dates)
def test_matching_is_symmetric_without_birth_names(
    given_a: list[str], family_a: list[str], given_b: list[str], family_b: list[str], birth: date
) -> None:
    a = (" ".join(given_a), " ".join(family_a))
    b = (" ".join(given_b), " ".join(family_b))
    assert _verdict(*a, *b, birth) == _verdict(*b, *a, birth)


@fast
@given(names, names, birth_dates)
def test_never_match_unless_every_field_matches(given_parts: list[str], family: list[str], birth: date) -> None:
    learner = Learner(given_names=" ".join(given_parts), family_name=" ".join(family), birth_date=birth)
    result = match_identity(learner, ExpectedIdentity(" ".join(given_parts) + " Extra", " ".join(family), birth))
    assert result.verdict != "MATCH"
    assert all(f.verdict == "MATCH" for f in result.fields) == (result.verdict == "MATCH")
