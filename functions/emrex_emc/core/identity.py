"""Does the learner in the ELMO document match the applicant we expected?

Per field (given names, family name, birth date) a verdict MATCH / REVIEW / MISMATCH with a reason
people can read; overall: all MATCH -> MATCH, any MISMATCH -> MISMATCH, else REVIEW. A difference is
never silently accepted: anything short of an exact match after normalisation is at least REVIEW.
Reasons never quote the names or dates themselves (they end up in stored outcomes and logs).

Names are compared after NFKD decomposition, removal of combining marks (accents), case folding,
folding of letters NFKD does not decompose (ø, ł, æ, ß, đ, þ, ...) and of hyphens, apostrophes and
spaces. Given names may come in any order; a subset (e.g. only the first name) is REVIEW. The
learner's birth name is accepted as an alternative family name. A small typo (normalised Levenshtein
distance <= 0.25) is REVIEW. Birth dates are compared exactly (timezones are stripped by the reader).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, cast

from emrex_emc.core.elmo.model import Learner

Verdict = Literal["MATCH", "REVIEW", "MISMATCH"]
FieldName = Literal["given_names", "family_name", "birth_date"]
TYPO_THRESHOLD = 0.25
"""Largest normalised edit distance (edits / length of the longer name) treated as a typo."""

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
    field: FieldName
    verdict: Verdict
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "verdict": self.verdict, "reason": self.reason}


@dataclass(frozen=True)
class IdentityResult:
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
    return distance_ratio(" ".join(sorted(a)), " ".join(sorted(b))) <= TYPO_THRESHOLD


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
        return FieldMatch("family_name", "MATCH", "the expected family name is the learner's birth name")
    if not name_tokens(learner.family_name) or not name_tokens(expected):
        return FieldMatch("family_name", "REVIEW", "family name is missing on one side")
    if verdict == "REVIEW":
        return FieldMatch(
            "family_name", "REVIEW", "family names are similar but not equal (part of a compound name or a typo)"
        )
    return FieldMatch("family_name", "MISMATCH", "family names differ")


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
    fields = (
        _compare_given(learner.given_names, expected.given_names),
        _compare_family(learner, expected.family_name),
        _compare_birth_date(learner.birth_date, expected.birth_date),
    )
    return IdentityResult(verdict=_overall(fields), fields=fields)
