"""Does the learner in the ELMO document match the applicant we expected?

Per field (given names, family name, birth date) a verdict MATCH / REVIEW / MISMATCH with a reason
people can read and the ``method`` that decided it; overall: all MATCH -> MATCH, any MISMATCH -> MISMATCH,
else REVIEW. A difference is never silently accepted: anything short of an exact match after
normalisation is at least REVIEW. Reasons never quote the names or dates themselves (they end up in
stored outcomes and logs).

Names are compared after NFKD decomposition, removal of combining marks (accents), case folding,
folding of letters NFKD does not decompose (ø, ł, æ, ß, đ, þ, ...) and of hyphens, apostrophes and
spaces. Given names may come in any order; a subset (e.g. only the first name) is REVIEW. The
learner's birth name is accepted as an alternative family name. A small typo (normalised Levenshtein
distance <= 0.25) is REVIEW. Birth dates are compared exactly (timezones are stripped by the reader).

Names in any script: each side is compared in its own script first, then transliterated
(:mod:`emrex_emc.core.transliterate`: Greek as ELOT 743, Cyrillic as the passports of its countries). The
document's ``alternativeName`` (ELMO 2.1: the full name in one string, often in the learner's own script)
is compared with the applicant's given and family names together, in any order. Per name field the best
comparison wins: the names as written (method ``exact``), the birth name (``birth_name``), the alternative
name (``alternative_name``), each by the rules above; an agreement found only after transliteration
(``transliteration``) is REVIEW at most. MISMATCH when nothing agrees.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, cast

from emrex_emc.core.transliterate import latin_spellings

if TYPE_CHECKING:  # annotations only: the ELMO model is not needed to load this module
    from emrex_emc.core.elmo.model import Learner

Verdict = Literal["MATCH", "REVIEW", "MISMATCH"]
FieldName = Literal["given_names", "family_name", "birth_date"]
Method = Literal["exact", "birth_name", "alternative_name", "transliteration"]
"""Which comparison gave a field its verdict: the document's names as written, the learner's birth name,
the document's alternative name, or (for an agreement found no other way) Latin spellings."""
METHODS: tuple[Method, ...] = ("exact", "birth_name", "alternative_name", "transliteration")
"""In order of preference when two comparisons give the same verdict."""
_RANK: dict[Verdict, int] = {"MATCH": 0, "REVIEW": 1, "MISMATCH": 2}
TYPO_THRESHOLD = 0.25
"""Largest normalised edit distance (edits / length of the longer name) treated as a typo."""
MAX_COMPARED_NAME_CHARS = 300
"""A longer name (no person's is) is not compared: edit distances and transliterations of a hostile
document's megabyte-long name would take minutes. Its name fields are REVIEW."""

_LETTER_FOLDS = str.maketrans(
    {
        "ø": "o", "ł": "l", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i",
        "ħ": "h", "ŋ": "n", "ŧ": "t", "ĸ": "k", "\u017f": "s", "ƒ": "f", "ɨ": "i", "ʉ": "u",
    }
)  # fmt: skip
"""Letters NFKD does not decompose (dotless i and long s written as escapes: they look like i and f)."""
_JOINERS = "'\u2019\u02bc\u2018`\u00b4\u02b9\u02bb."
"""Apostrophes (O'Brien = OBrien) and dots (St. = St) are removed, joining the parts."""
_SEPARATORS = "-\u2010\u2011\u2012\u2013\u2014\u2015_,"
"""Hyphens, dashes and commas separate parts (Anne-Marie = Anne Marie)."""


@dataclass(frozen=True)
class ExpectedIdentity:
    """The applicant as the enrolment system knows them."""

    given_names: str
    family_name: str
    birth_date: date


@dataclass(frozen=True)
class FieldMatch:
    """One field's comparison (given names, family name, birth date): verdict, why, and how it matched."""

    field: FieldName
    verdict: Verdict
    reason: str
    method: Method = "exact"

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "verdict": self.verdict, "reason": self.reason, "method": self.method}


@dataclass(frozen=True)
class IdentityResult:
    """Whether the document's learner is the applicant: the worst field verdict, and each field's."""

    verdict: Verdict
    fields: tuple[FieldMatch, ...]

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "fields": [f.to_json() for f in self.fields]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IdentityResult:
        return cls(
            verdict=cast(Verdict, str(data["verdict"])),
            fields=tuple(
                FieldMatch(
                    field=cast(FieldName, str(item["field"])),
                    verdict=cast(Verdict, str(item["verdict"])),
                    reason=str(item.get("reason", "")),
                    # outcomes stored before methods existed compared the names as written
                    method=cast(Method, str(item.get("method") or "exact")),
                )
                for item in data.get("fields") or ()
            ),
        )


def name_tokens(name: str) -> tuple[str, ...]:
    """Normalised name parts: accents, case, special letters, hyphens/apostrophes/spaces folded."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.casefold().translate(_LETTER_FOLDS)
    folded = unicodedata.normalize("NFKD", folded)  # casefold may produce decomposable letters again
    for ch in _JOINERS:
        folded = folded.replace(ch, "")
    for ch in _SEPARATORS:
        folded = folded.replace(ch, " ")
    return tuple(folded.split())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), two-row dynamic programming."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def distance_ratio(a: str, b: str) -> float:
    """Levenshtein distance divided by the length of the longer string (0 = equal, 1 = nothing shared)."""
    longest = max(len(a), len(b))
    return levenshtein(a, b) / longest if longest else 0.0


def _is_typo(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    left, right = " ".join(sorted(a)), " ".join(sorted(b))
    if abs(len(left) - len(right)) > TYPO_THRESHOLD * max(len(left), len(right)):
        return False  # the distance is at least the difference in length: no need to compute it
    return distance_ratio(left, right) <= TYPO_THRESHOLD


def _compare_given(learner: str, expected: str) -> FieldMatch:
    ours, theirs = name_tokens(learner), name_tokens(expected)
    if not ours or not theirs:
        return FieldMatch("given_names", "REVIEW", "given names are missing on one side")
    if sorted(ours) == sorted(theirs):
        return FieldMatch("given_names", "MATCH", "same given names (order, case and accents ignored)")
    if "".join(ours) == "".join(theirs):
        return FieldMatch("given_names", "MATCH", "same given names (hyphens and spaces ignored)")
    if set(ours) < set(theirs) or set(theirs) < set(ours):
        return FieldMatch("given_names", "REVIEW", "only some of the given names appear on both sides")
    if _is_typo(ours, theirs):
        return FieldMatch("given_names", "REVIEW", "given names differ slightly (possible typo or transliteration)")
    return FieldMatch("given_names", "MISMATCH", "given names differ")


def _compare_family_once(learner: str, expected: str) -> Verdict:
    ours, theirs = name_tokens(learner), name_tokens(expected)
    if not ours or not theirs:
        return "REVIEW"
    if "".join(ours) == "".join(theirs) or sorted(ours) == sorted(theirs):
        return "MATCH"
    if set(ours) < set(theirs) or set(theirs) < set(ours) or _is_typo(ours, theirs):
        return "REVIEW"
    return "MISMATCH"


def _compare_family(learner: Learner, expected: str) -> FieldMatch:
    verdict = _compare_family_once(learner.family_name, expected)
    if verdict == "MATCH":
        return FieldMatch("family_name", "MATCH", "same family name (case, accents, hyphens and spaces ignored)")
    if learner.birth_name and _compare_family_once(learner.birth_name, expected) == "MATCH":
        return FieldMatch(
            "family_name", "MATCH", "the expected family name is the learner's birth name", method="birth_name"
        )
    if not name_tokens(learner.family_name) or not name_tokens(expected):
        return FieldMatch("family_name", "REVIEW", "family name is missing on one side")
    if verdict == "REVIEW":
        return FieldMatch(
            "family_name", "REVIEW", "family names are similar but not equal (part of a compound name or a typo)"
        )
    return FieldMatch("family_name", "MISMATCH", "family names differ")


def _compare_full_name(full_name: str, given: str, family: str) -> Verdict | None:
    """One full name (``alternativeName``) against given and family names together, in any order."""
    ours = name_tokens(full_name)
    given_tokens, family_tokens = name_tokens(given), name_tokens(family)
    theirs = given_tokens + family_tokens
    if not ours or not given_tokens or not family_tokens:
        return None
    joined = "".join(ours)
    if sorted(ours) == sorted(theirs) or joined in {"".join(theirs), "".join(family_tokens + given_tokens)}:
        return "MATCH"
    if set(ours) < set(theirs) or set(theirs) < set(ours) or _is_typo(ours, theirs):
        return "REVIEW"
    return "MISMATCH"


def _by_alternative_name(learner: Learner, expected: ExpectedIdentity) -> tuple[FieldMatch, FieldMatch] | None:
    """Both name fields by the document's alternative name, when it agrees (MATCH or REVIEW) at all."""
    if learner.alternative_name is None:
        return None
    verdict = _compare_full_name(learner.alternative_name.value, expected.given_names, expected.family_name)
    if verdict not in {"MATCH", "REVIEW"}:
        return None
    reason = (
        "the document's alternative name is the applicant's given and family names (case, accents and order ignored)"
        if verdict == "MATCH"
        else "the document's alternative name and the applicant's names agree only in part or with a small difference"
    )
    return (
        FieldMatch("given_names", verdict, reason, method="alternative_name"),
        FieldMatch("family_name", verdict, reason, method="alternative_name"),
    )


def _spellings(name: str) -> tuple[str, ...]:
    """The name as written and its Latin spellings (only the name when it is written in Latin)."""
    return (name, *latin_spellings(name))


def _agrees(verdict: Verdict | None) -> bool:
    return verdict in {"MATCH", "REVIEW"}


def _by_transliteration(learner: Learner, expected: ExpectedIdentity) -> dict[FieldName, FieldMatch]:
    """REVIEW for each name field whose names agree once one side (or both) is written in Latin letters.

    The names as written are compared elsewhere; here only pairs with at least one Latin spelling count.
    """
    found: dict[FieldName, FieldMatch] = {}
    given, family = _spellings(expected.given_names), _spellings(expected.family_name)

    def transliterated(ours: tuple[str, ...], theirs: tuple[str, ...], compare: Callable[[str, str], bool]) -> bool:
        return any(compare(a, b) for a in ours for b in theirs if not (a is ours[0] and b is theirs[0]))

    if transliterated(_spellings(learner.given_names), given, lambda a, b: _agrees(_compare_given(a, b).verdict)):
        found["given_names"] = FieldMatch(
            "given_names", "REVIEW", "given names agree only once transliterated", method="transliteration"
        )
    family_names = [learner.family_name] + ([learner.birth_name] if learner.birth_name else [])
    if any(
        transliterated(_spellings(name), family, lambda a, b: _agrees(_compare_family_once(a, b)))
        for name in family_names
    ):
        found["family_name"] = FieldMatch(
            "family_name", "REVIEW", "family names agree only once transliterated", method="transliteration"
        )
    if learner.alternative_name is not None:
        full = _spellings(learner.alternative_name.value)
        if any(
            _agrees(_compare_full_name(a, g, f))
            for a in full
            for g in given
            for f in family
            if not (a is full[0] and g is given[0] and f is family[0])
        ):
            reason = "the document's alternative name and the applicant's names agree only once transliterated"
            for field in ("given_names", "family_name"):
                found.setdefault(field, FieldMatch(field, "REVIEW", reason, method="transliteration"))
    return found


def _best(candidates: list[FieldMatch]) -> FieldMatch:
    """The best verdict; among equal ones the preferred method (:data:`METHODS`)."""
    return min(candidates, key=lambda match: (_RANK[match.verdict], METHODS.index(match.method)))


def _compare_birth_date(learner: date | None, expected: date) -> FieldMatch:
    if learner is None:
        return FieldMatch("birth_date", "REVIEW", "the document has no (valid) birth date")
    if learner == expected:
        return FieldMatch("birth_date", "MATCH", "same birth date")
    if (learner.year, learner.month, learner.day) == (expected.year, expected.day, expected.month):
        return FieldMatch("birth_date", "MISMATCH", "birth dates differ (day and month look swapped)")
    return FieldMatch("birth_date", "MISMATCH", "birth dates differ")


def _overall(fields: tuple[FieldMatch, ...]) -> Verdict:
    verdicts = {f.verdict for f in fields}
    if "MISMATCH" in verdicts:
        return "MISMATCH"
    if verdicts == {"MATCH"}:
        return "MATCH"
    return "REVIEW"


def match_identity(learner: Learner, expected: ExpectedIdentity) -> IdentityResult:
    """Compare the learner of an ELMO document with the expected applicant, field by field."""
    full_name = learner.alternative_name.value if learner.alternative_name else ""
    names = (learner.given_names, learner.family_name, learner.birth_name or "", full_name)
    if any(len(name) > MAX_COMPARED_NAME_CHARS for name in (*names, expected.given_names, expected.family_name)):
        reason = "a name is too long to compare"
        fields = (
            FieldMatch("given_names", "REVIEW", reason),
            FieldMatch("family_name", "REVIEW", reason),
            _compare_birth_date(learner.birth_date, expected.birth_date),
        )
        return IdentityResult(verdict=_overall(fields), fields=fields)
    given = [_compare_given(learner.given_names, expected.given_names)]
    family = [_compare_family(learner, expected.family_name)]
    if given[0].verdict != "MATCH" or family[0].verdict != "MATCH":
        alternative = _by_alternative_name(learner, expected)
        if alternative is not None:
            given.append(alternative[0])
            family.append(alternative[1])
        if _best(given).verdict != "MATCH" or _best(family).verdict != "MATCH":
            transliterated = _by_transliteration(learner, expected)
            given.extend(match for field, match in transliterated.items() if field == "given_names")
            family.extend(match for field, match in transliterated.items() if field == "family_name")
    fields = (_best(given), _best(family), _compare_birth_date(learner.birth_date, expected.birth_date))
    return IdentityResult(verdict=_overall(fields), fields=fields)
