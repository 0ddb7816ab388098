# ruff: noqa: RUF001, RUF002  (this module is about letters of other scripts that look Latin)
"""Latin spellings of a name written in another script, as passports write them.

Identity matching compares names in their own script first; only when that fails does it compare Latin
spellings, and an agreement found that way is never more than REVIEW. A name can have several passport
spellings, so :func:`latin_spellings` gives every one the rules below produce:

- Greek: ELOT 743, the system of Greek passports (``ου`` -> ``ou``; ``αυ``/``ευ``/``ηυ`` -> ``av``/``ev``/``iv``
  before a vowel or a voiced consonant, ``af``/``ef``/``if`` before a voiceless one and at the end; ``γγ`` ->
  ``ng``, ``γξ`` -> ``nx``, ``γχ`` -> ``nch``; a diaeresis breaks a diphthong), and the common phonetic spelling
  (``μπ``/``ντ``/``γκ`` -> ``b``/``d``/``g`` at the start of a word, ``mb``/``nd``/``ng`` inside it; ``χ`` -> ``h``):
  Γεώργιος Παπαδόπουλος -> Georgios Papadopoulos.
- Cyrillic: the passport systems of the countries writing it: Russia (ICAO 9303 since 2013, and the spelling
  of older passports), Ukraine (2010), Belarus, Bulgaria (2009), Serbia and Macedonia.
- Any other script (and letters the tables lack): anyascii's transliteration.

Latin text is left as it is (accents are folded by the identity matcher). Pure; anyascii is imported
only for a name in a script the tables do not cover.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping

_DIAERESIS = "\u0308"
_GREEK_VOWELS = frozenset("αεηιουω")
_GREEK_VOICED = frozenset("βγδζλμνρ")
"""After ``αυ``/``ευ``/``ηυ`` a vowel or one of these gives ``v``; anything else (voiceless, end of word) ``f``."""
_GREEK_LETTERS: Mapping[str, str] = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th", "ι": "i", "κ": "k",
    "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p", "ρ": "r", "σ": "s", "ς": "s", "τ": "t",
    "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps", "ω": "o", "ϐ": "v", "ϑ": "th", "ϕ": "f", "ϲ": "s",
}  # fmt: skip
_GAMMA_NASAL = {"γ": "n", "ξ": "n", "χ": "n"}
"""ELOT 743: ``γ`` before ``γ``, ``ξ`` or ``χ`` is a nasal (``γγ`` -> ``ng``, ``γξ`` -> ``nx``, ``γχ`` -> ``nch``)."""
_PHONETIC_CLUSTERS = {"μπ": ("b", "mb"), "ντ": ("d", "nd"), "γκ": ("g", "ng")}
"""The phonetic spelling of these pairs: (at the start of a word, inside it)."""

_RUSSIAN: Mapping[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie", "ы": "y", "ь": "",
    "э": "e", "ю": "iu", "я": "ia",
}  # fmt: skip
"""Russian passports since 2013 (ICAO 9303)."""
_RUSSIAN_BEFORE_2010 = {**_RUSSIAN, "й": "y", "ъ": "", "ю": "yu", "я": "ya", "ё": "yo"}
"""Russian passports before 2010 (Дмитрий -> Dmitriy, Юлия -> Yuliya)."""
_UKRAINIAN: Mapping[str, str] = {
    **_RUSSIAN, "г": "h", "ґ": "g", "е": "e", "є": "ie", "и": "y", "і": "i", "ї": "i", "й": "i", "х": "kh",
    "щ": "shch", "ь": "", "ю": "iu", "я": "ia", "'": "", "’": "", "ʼ": "",
}  # fmt: skip
"""Ukraine, Cabinet of Ministers resolution 55 (2010); word-initial forms in :data:`_UKRAINIAN_INITIAL`."""
_UKRAINIAN_INITIAL = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}
_BELARUSIAN: Mapping[str, str] = {
    **_RUSSIAN, "г": "h", "ґ": "g", "е": "ie", "ё": "io", "і": "i", "й": "i", "ў": "u", "ы": "y", "э": "e",
    "ю": "iu", "я": "ia", "'": "", "’": "",
}  # fmt: skip
"""Belarusian passports (Аляксандр -> Aliaksandr)."""
_BULGARIAN: Mapping[str, str] = {
    **_RUSSIAN, "й": "y", "х": "h", "щ": "sht", "ъ": "a", "ь": "y", "ю": "yu", "я": "ya",
}  # fmt: skip
"""Bulgaria, Transliteration Act 2009 (``-ия`` at the end of a word is ``ia``)."""
_SERBIAN: Mapping[str, str] = {
    **_RUSSIAN, "ђ": "đ", "ж": "ž", "ј": "j", "љ": "lj", "њ": "nj", "ћ": "ć", "х": "h", "ц": "c", "ч": "č",
    "џ": "dž", "ш": "š",
}  # fmt: skip
"""Serbian Latin (Gaj), as Serbian passports print it."""
_MACEDONIAN: Mapping[str, str] = {
    **_RUSSIAN, "ѓ": "gj", "ѕ": "dz", "ј": "j", "љ": "lj", "њ": "nj", "ќ": "kj", "х": "h", "ц": "c",
    "џ": "dž",
}  # fmt: skip
"""Macedonian passports."""
_CYRILLIC_SYSTEMS: tuple[Mapping[str, str], ...] = (
    _RUSSIAN,
    _RUSSIAN_BEFORE_2010,
    _UKRAINIAN,
    _BELARUSIAN,
    _BULGARIAN,
    _SERBIAN,
    _MACEDONIAN,
)


def _is_greek(char: str) -> bool:
    return "\u0370" <= char <= "\u03ff" or "\u1f00" <= char <= "\u1fff"


def _is_cyrillic(char: str) -> bool:
    return "\u0400" <= char <= "\u052f" or "\u1c80" <= char <= "\u1c8f" or "\ua640" <= char <= "\ua69f"


def _is_latin_or_neutral(char: str) -> bool:
    """ASCII, Latin letters (any accent), marks, digits, spaces and punctuation: nothing to transliterate."""
    if char.isascii() or not char.isalpha():
        return True
    return unicodedata.name(char, "").startswith("LATIN")


def needs_transliteration(text: str) -> bool:
    """Whether ``text`` holds letters of a script other than Latin."""
    return not text.isascii() and not all(_is_latin_or_neutral(char) for char in text)


def latin_spellings(text: str) -> tuple[str, ...]:
    """The distinct Latin spellings of ``text`` (lower case); empty when it has no letter of another script."""
    if not needs_transliteration(text):
        return ()
    lowered = unicodedata.normalize("NFC", text.casefold())
    has_greek = any(_is_greek(char) for char in lowered)
    has_cyrillic = any(_is_cyrillic(char) for char in lowered)
    greek_systems: tuple[Callable[[str], str], ...] = (_elot_743, _greek_phonetic) if has_greek else (_unchanged,)
    cyrillic_systems = _CYRILLIC_SYSTEMS if has_cyrillic else (None,)
    spellings: list[str] = []
    for greek in greek_systems:
        for cyrillic in cyrillic_systems:
            spelled = greek(lowered)
            if cyrillic is not None:
                spelled = _cyrillic(spelled, cyrillic)
            spelled = _other_scripts(spelled)
            if spelled not in spellings:
                spellings.append(spelled)
    return tuple(spellings)


def _unchanged(text: str) -> str:
    return text


# --- Greek -----------------------------------------------------------------------------------------------


def _greek_letters(text: str) -> list[tuple[str, bool]]:
    """The text's characters without accents, each with whether it carried a diaeresis (ϊ, ϋ, ΐ, ΰ)."""
    letters: list[tuple[str, bool]] = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char):
            if char == _DIAERESIS and letters:
                letters[-1] = (letters[-1][0], True)
            continue
        letters.append((char, False))
    return letters


def _elot_743(text: str) -> str:
    return _greek(text, phonetic=False)


def _greek_phonetic(text: str) -> str:
    return _greek(text, phonetic=True)


def _greek(text: str, *, phonetic: bool) -> str:
    """ELOT 743 (``phonetic=False``), or the phonetic spelling of :data:`_PHONETIC_CLUSTERS` and ``χ``."""
    letters = _greek_letters(text)
    out: list[str] = []
    index = 0
    while index < len(letters):
        char, _ = letters[index]
        following, following_diaeresis = letters[index + 1] if index + 1 < len(letters) else ("", False)
        after = letters[index + 2][0] if index + 2 < len(letters) else ""
        starts_word = index == 0 or not letters[index - 1][0].isalpha()
        if char == "ο" and following == "υ" and not following_diaeresis:
            out.append("ou")
            index += 2
            continue
        if char in "αεη" and following == "υ" and not following_diaeresis:
            voiced = after in _GREEK_VOWELS or after in _GREEK_VOICED
            out.append(_GREEK_LETTERS[char] + ("v" if voiced else "f"))
            index += 2
            continue
        pair = char + following
        if phonetic and pair in _PHONETIC_CLUSTERS:
            initial, medial = _PHONETIC_CLUSTERS[pair]
            out.append(initial if starts_word else medial)
            index += 2
            continue
        if char == "γ" and following in _GAMMA_NASAL:
            out.append("n")
        elif phonetic and char == "χ":
            out.append("h")
        else:
            out.append(_GREEK_LETTERS.get(char, char))
        index += 1
    return "".join(out)


# --- Cyrillic ---------------------------------------------------------------------------------------------


def _cyrillic(text: str, system: Mapping[str, str]) -> str:
    out: list[str] = []
    for index, char in enumerate(text):
        starts_word = index == 0 or not text[index - 1].isalpha()
        if system is _UKRAINIAN:
            if starts_word and char in _UKRAINIAN_INITIAL:
                out.append(_UKRAINIAN_INITIAL[char])
                continue
            if char == "г" and index > 0 and text[index - 1] == "з":  # зг -> zgh (not zh)
                out.append("gh")
                continue
        if system is _BULGARIAN and char == "и" and text[index + 1 : index + 2] == "я":
            ends_word = index + 2 >= len(text) or not text[index + 2].isalpha()
            if ends_word:  # -ия -> ia
                out.append("i")
                continue
        if system is _BULGARIAN and char == "я" and index > 0 and text[index - 1] == "и":
            ends_word = index + 1 >= len(text) or not text[index + 1].isalpha()
            if ends_word:
                out.append("a")
                continue
        out.append(system.get(char, _RUSSIAN.get(char, char)))
    return "".join(out)


# --- everything else --------------------------------------------------------------------------------------


def _other_scripts(text: str) -> str:
    """Letters still in another script (Armenian, Georgian, Arabic, Hebrew, CJK, ...) through anyascii."""
    if not needs_transliteration(text):
        return text
    from anyascii import anyascii

    return "".join(char if _is_latin_or_neutral(char) else anyascii(char).lower() for char in text)
