# ruff: noqa: RUF003  (Greek and Cyrillic letters that look Latin are the subject here)
"""Latin spellings of names in other scripts: the passport rules anyascii lacks, and anyascii for the rest."""

from __future__ import annotations

import pytest

from emrex_emc.core.transliterate import latin_spellings, needs_transliteration


@pytest.mark.parametrize(
    ("greek", "passport"),
    [
        ("Γεώργιος Παπαδόπουλος", "georgios papadopoulos"),  # ου -> ou (anyascii: Papadopoylos)
        ("ΠΑΠΑΔΟΠΟΥΛΟΣ", "papadopoulos"),
        ("Ευάγγελος", "evangelos"),  # ευ before a vowel -> ev; γγ -> ng
        ("Ευαγγελία", "evangelia"),
        ("Ευθύμιος", "efthymios"),  # ευ before a voiceless consonant -> ef
        ("Ευφροσύνη", "effrosyni"),
        ("Παύλος", "pavlos"),  # αυ before a voiced consonant -> av
        ("Ευστάθιος Ζαφειρόπουλος", "efstathios zafeiropoulos"),
        ("Αικατερίνη", "aikaterini"),
        ("Χρυσούλα", "chrysoula"),
        ("Ιωάννης", "ioannis"),
        ("Κωνσταντίνος", "konstantinos"),
        ("Αγγελική", "angeliki"),
        ("Σφίγξ", "sfinx"),  # γξ -> nx
        ("Μελαγχολία", "melancholia"),  # γχ -> nch
        ("Γκίκας", "gkikas"),
        ("Μπακογιάννης", "mpakogiannis"),
        ("Ξανθή Ψαρά", "xanthi psara"),
        ("Αϋπνία", "aypnia"),  # a diaeresis breaks the diphthong
        ("Ζωή", "zoi"),
        ("Ηλίας Λεβεντογιάννης", "ilias leventogiannis"),
    ],
)
def test_greek_as_elot_743(greek: str, passport: str) -> None:
    assert latin_spellings(greek)[0] == passport


@pytest.mark.parametrize(
    ("greek", "phonetic"),
    [("Μπακογιάννης", "bakogiannis"), ("Λαμπράκης", "lambrakis"), ("Ντίνος", "dinos"), ("Χρήστος", "hristos")],
)
def test_greek_phonetic_spelling_is_offered_too(greek: str, phonetic: str) -> None:
    assert phonetic in latin_spellings(greek)


@pytest.mark.parametrize(
    ("cyrillic", "spelling"),
    [
        ("Дмитрий Иванов", "dmitrii ivanov"),  # Russia, ICAO 9303 (since 2013)
        ("Дмитрий Иванов", "dmitriy ivanov"),  # Russia, before 2010
        ("Юлия Щукина", "iuliia shchukina"),
        ("Юлия", "yuliya"),
        ("Алексей Хрущёв", "aleksei khrushchev"),
        ("Олександр Ковальчук", "oleksandr kovalchuk"),  # Ukraine 2010
        ("Григорій", "hryhorii"),
        ("Євгенія", "yevheniia"),  # word-initial є -> ye
        ("Юрій", "yurii"),
        ("Згурський", "zghurskyi"),  # зг -> zgh
        ("Аляксандр Лукашэнка", "aliaksandr lukashenka"),  # Belarus
        ("Христо Стоичков", "hristo stoichkov"),  # Bulgaria 2009
        ("Мария", "maria"),  # -ия at the end -> ia
        ("Щерев", "shterev"),
        ("Новак Ђоковић", "novak đoković"),  # Serbia
        ("Ѓорѓи", "gjorgji"),  # North Macedonia
    ],
)
def test_cyrillic_as_the_passports_of_its_countries(cyrillic: str, spelling: str) -> None:
    assert spelling in latin_spellings(cyrillic)


@pytest.mark.parametrize(
    ("name", "spelling"),
    [("Արամ Խաչատրյան", "aram khach'atryan"), ("ნინო", "nino"), ("李小龍", "lixiaolong")],
)
def test_other_scripts_through_anyascii(name: str, spelling: str) -> None:
    assert latin_spellings(name) == (spelling,)


@pytest.mark.parametrize("name", ["Zoë Ødegård-Lind", "Jörg Groß", "Łukasz", "O'Brien", "", "  "])
def test_latin_names_need_no_transliteration(name: str) -> None:
    assert not needs_transliteration(name)
    assert latin_spellings(name) == ()


def test_mixed_scripts_are_spelled_in_latin_throughout() -> None:
    assert latin_spellings("Anna Παπαδοπούλου") == ("anna papadopoulou",)
    assert all(spelling.isascii() for spelling in latin_spellings("Ирина Σοφία"))
