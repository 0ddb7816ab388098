"""Named ELMO documents for the reader's equivalence test (``test_reader_equivalence.py``).

Real EMP documents (``../shared/elmo``), the factory's generated transcripts (all three namespaces, up to
the 2000-course benchmark size) and seeded pseudo-random awkward documents: odd whitespace, CDATA,
comments and processing instructions inside values, foreign elements, nested ``hasPart``, repeated and
missing fields, invalid values, attachments of every encoding. Every document is rebuilt the same way
on every run (fixed seeds, no clock), so the reader's outputs can be compared with frozen ones.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable
from datetime import date
from typing import Any

from lxml import etree

from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.elmo.reader import read_elmo
from emrex_emc.core.errors import EmrexError
from emrex_emc.local.elmo_factory import ATHENS, OSLO, Enrolment, build_elmo, build_elmo_21, make_pdf
from tests.core.elmo.conftest import LEGACY_DOCUMENTS, REAL_DOCUMENTS, SHARED_ELMO, load_root

NAMESPACES = (
    "https://github.com/emrex-eu/elmo-schemas/tree/v1",
    "https://github.com/emrex-eu/elmo-schemas/tree/v1.3.0",
    "https://github.com/emrex-eu/elmo-schemas/tree/v2",
)
EWP_TOR_EXAMPLE = "ewp/ewp-specs-api-imobility-tors/get-response-example.xml"
PDF = make_pdf(3000)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))

Loader = Callable[[], etree._Element]


def outcome(root: etree._Element) -> str:
    """What the reader makes of ``root``: the SHA-256 of its canonical JSON (notices included), or the error."""
    try:
        document = read_elmo(root)
    except EmrexError as exc:
        return f"error {exc.code.value}: {exc.message}"
    return hashlib.sha256(canonical_json(document.to_json())).hexdigest()


def shared_documents() -> dict[str, Loader]:
    names = (*REAL_DOCUMENTS, *LEGACY_DOCUMENTS)
    loaders: dict[str, Loader] = {f"shared/{name}": (lambda name=name: load_root(name)) for name in names}
    loaders[f"shared/{EWP_TOR_EXAMPLE}"] = _embedded_elmo
    return loaders


def _embedded_elmo() -> etree._Element:
    tree = etree.parse(str(SHARED_ELMO / EWP_TOR_EXAMPLE))
    return next(tree.getroot().iter(f"{{{NAMESPACES[0]}}}elmo"))


def factory_documents() -> dict[str, Loader]:
    loaders: dict[str, Loader] = {}
    for version in ("v1", "v1.3.0", "v2"):
        for courses in (0, 1, 7):
            loaders[f"factory/{version}/{courses}"] = lambda v=version, c=courses: _factory(v, c, 0)
    loaders["factory/v1/300+pdf"] = lambda: _factory("v1", 300, 512 * 1024)
    loaders["factory/v1/2000+pdf"] = lambda: _factory("v1", 2000, 2 * 1024 * 1024)
    loaders["factory/v2.1/graduate"] = lambda: _elmo_21(alternative_name=("Γεώργιος Παπαδόπουλος", "el"))
    loaders["factory/v2.1/enrolment"] = lambda: _elmo_21(
        document_type="Enrolment",
        enrolment=Enrolment(ATHENS, date(2022, 9, 1), date(2024, 9, 1), date(2025, 8, 31)),
        issuer=OSLO,
        citizenship="UK",
        country_of_birth="XX",
    )
    return loaders


def _elmo_21(**options: Any) -> etree._Element:
    xml = build_elmo_21(given_names="Georgios", family_name="Papadopoulos", birth_date=date(1999, 4, 5), **options)
    return etree.fromstring(xml)


def _factory(version: str, courses: int, pdf_size: int) -> etree._Element:
    """The demo transcript as frozen: every fourth course worth 7,5 ECTS, the degree 6 per course."""
    xml = build_elmo(
        given_names="Anna Maria",
        family_name="de Vries",
        birth_date=date(2001, 2, 3),
        courses=courses,
        pdf_bytes=make_pdf(pdf_size) if pdf_size else None,
        namespace_version=version,
        decimal_comma=True,
        degree_credits=str(courses * 6),
    )
    return etree.fromstring(xml)


def random_documents() -> dict[str, Loader]:
    return {f"random/{seed}": (lambda seed=seed: _parse(_RandomDocument(seed).xml())) for seed in range(60)}


def crafted_documents() -> dict[str, Loader]:
    ns = NAMESPACES[0]
    bad_dates = "".join(
        f"<learningOpportunitySpecification><specifies><learningOpportunityInstance><start>bad{i}</start>"
        f"<credit><value>x{i}</value></credit></learningOpportunityInstance></specifies>"
        "</learningOpportunitySpecification>"
        for i in range(30)
    )
    entity = (
        f"<!DOCTYPE elmo [<!ENTITY n 'Ada'>]><elmo xmlns='{ns}'><learner><givenNames>&n;</givenNames>"
        "<familyName>L&n;</familyName></learner><report><learningOpportunitySpecification><title>&n;</title>"
        "</learningOpportunitySpecification></report></elmo>"
    )
    return {
        "crafted/notice-cap": lambda: _parse(f"<elmo xmlns='{ns}'><report>{bad_dates}</report></elmo>"),
        "crafted/unresolved-entity": lambda: _parse(entity),
        "crafted/empty": lambda: _parse(f"<elmo xmlns='{ns}'/>"),
    }


def all_documents() -> dict[str, Loader]:
    return {**shared_documents(), **factory_documents(), **crafted_documents(), **random_documents()}


def _parse(xml: str) -> etree._Element:
    parser = etree.XMLParser(strip_cdata=False, remove_blank_text=False, resolve_entities=False)
    return etree.fromstring(xml.encode("utf-8"), parser)


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;")


class _RandomDocument:
    """One pseudo-random ELMO document: every optional part may be missing, repeated, odd or misplaced."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.namespace = NAMESPACES[seed % len(NAMESPACES)]
        self.prefix = self.rng.choice(("", "", "e:"))
        self.flat = seed % 5 == 0
        """No whitespace between elements, as a signing EMP usually writes."""

    # -- building blocks -------------------------------------------------------------------------
    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def gap(self) -> str:
        if self.flat:
            return ""
        return self.rng.choice(("", "\n  ", " ", "\n\t\t", "\r\n"))

    def el(self, name: str, body: str = "", **attrs: str | None) -> str:
        tag = self.prefix + name
        rendered = "".join(
            f' {key.replace("_", ":", 1) if key.startswith("xml_") else key}="{value}"'
            for key, value in attrs.items()
            if value is not None
        )
        return f"<{tag}{rendered}>{body}</{tag}>{self.gap()}" if body or self.chance(0.7) else f"<{tag}{rendered}/>"

    def many(self, count_max: int, make: Callable[[], str]) -> str:
        return "".join(make() for _ in range(self.rng.randint(0, count_max)))

    def text(self, value: str) -> str:
        """``value`` written one of the many ways XML allows (the reader must read them all alike)."""
        style = self.rng.randint(0, 11)
        if style == 0:
            return f"<![CDATA[{value}]]>"
        if style == 2 and len(value) > 1:
            return f"{_escape(value[:1])}<![CDATA[{value[1:]}]]>"
        if style == 5 and len(value) > 1:
            return f"{_escape(value[:1])}<x:b xmlns:x='urn:other'>{_escape(value[1:])}</x:b>"
        value = _escape(value)
        if style == 1:
            return f"  {value}\n "
        if style == 3:
            return f"<!-- note -->{value}"
        if style == 4:
            return f"{value}<?pi data?>"
        if style == 6:
            return value.replace("e", "&#101;")
        if style == 7:
            return "\u00a0" + value + "\u2003"
        return value

    def lang(self) -> str | None:
        return self.rng.choice((None, "en", "fi", "", "nb-NO"))

    def localized(self, name: str, words: tuple[str, ...], count_max: int = 3) -> str:
        return self.many(count_max, lambda: self.el(name, self.text(self.rng.choice(words)), xml_lang=self.lang()))

    def identifiers(self, count_max: int = 2) -> str:
        return self.many(
            count_max,
            lambda: self.el(
                "identifier",
                self.text(self.rng.choice(("C-1", "C-2", " ", "urn:x", "Ø-9"))),
                type=self.rng.choice((None, "local", "", "erasmus")),
            ),
        )

    def value(self, *choices: str) -> str:
        return self.text(self.rng.choice(choices))

    def foreign(self) -> str:
        return "<o:extra xmlns:o='urn:other'><o:title>not ELMO</o:title></o:extra>" if self.chance(0.15) else ""

    # -- ELMO parts ------------------------------------------------------------------------------
    def date(self) -> str:
        return self.value(
            "2024-01-31", "2009-09-25+02:00", "2020-13-45", "soon", " 2021-06-01 ", "2023-02-28T10:00:00Z"
        )

    def decimal(self) -> str:
        return self.value("6", "7,5", "7.50", "abc", "1e3", "NaN", " 6 ", "0.0", "-0", "10.000", "1 000")

    def learner(self) -> str:
        birth_tag = self.rng.choice(("bday", "dateOfBirth"))
        parts = [
            self.el("citizenship", self.value("FI", "NL")) if self.chance(0.6) else "",
            self.identifiers(),
            self.el("givenNames", self.value("Anna Maria", "Jens", "")) if self.chance(0.9) else "",
            self.el("familyName", self.value("de Vries", "Hansen", "Jönsson")) if self.chance(0.9) else "",
            self.el(birth_tag, self.date()) if self.chance(0.8) else "",
            self.el("gender", self.value("1", "2")) if self.chance(0.3) else "",
            self.el("placeOfBirth", self.value("Espoo")) if self.chance(0.2) else "",
            self.el("birthName", self.value("Keränen")) if self.chance(0.2) else "",
            self.foreign(),
        ]
        self.rng.shuffle(parts)
        return self.el("learner", "".join(parts))

    def instance(self) -> str:
        parts = [
            self.identifiers(1),
            self.el("start", self.date()) if self.chance(0.5) else "",
            self.el("date", self.date()) if self.chance(0.7) else "",
            self.el("status", self.value("passed", "failed", "in-progress", " Passed ")) if self.chance(0.6) else "",
            self.el("gradingSchemeLocalId", self.value("G1", "G2", "none")) if self.chance(0.4) else "",
            self.el("resultLabel", self.value("8", "A", "Bestått")) if self.chance(0.7) else "",
            self.el("shortenedGrading", self.el("percentageLower", "10")) if self.chance(0.1) else "",
            self.many(2, self.credit),
            self.many(2, self.level),
            self.el("languageOfInstruction", self.value("en", "fi")) if self.chance(0.4) else "",
            self.el("engagementHours", self.decimal()) if self.chance(0.3) else "",
            self.el("academicTerm", self.localized("title", ("F10", "Autumn")) + self.el("start", self.date()))
            if self.chance(0.3)
            else "",
            self.many(2, lambda: self.el("grouping", typeref=self.rng.choice((None, "1")), idref="g")),
            self.el("attachments", self.many(2, lambda: self.el("ref", self.value("a1", " ", "a2"))))
            if self.chance(0.2)
            else "",
            self.el("diplomaSupplement", self.el("section")) if self.chance(0.1) else "",
            self.foreign(),
        ]
        if self.chance(0.3):
            self.rng.shuffle(parts)
        return self.el("learningOpportunityInstance", "".join(parts))

    def credit(self) -> str:
        parts = [
            self.el("scheme", self.value("ects", "ECTS", "hp", "")) if self.chance(0.9) else "",
            self.el("level", self.value("Bachelor", "-")) if self.chance(0.3) else "",
            self.el("value", self.decimal()) if self.chance(0.9) else "",
        ]
        return self.el("credit", "".join(parts))

    def level(self) -> str:
        return self.el(
            "level",
            self.el("type", self.value("EQF", "NQF")) + self.el("value", self.value("6", "7")) + self.foreign(),
        )

    def los(self, depth: int) -> str:
        parts = [
            self.identifiers(),
            self.localized("title", ("Analysis", "Høst", "The importance of <br> in HTML", " ")),
            self.el("type", self.value("Course", "Module", "Degree Programme", " ", "course"))
            if self.chance(0.7)
            else "",
            self.el("subjectArea", self.value("11.3")) if self.chance(0.2) else "",
            self.el("iscedCode", self.value("0613")) if self.chance(0.2) else "",
            self.el("url", self.value("https://example.org/c")) if self.chance(0.2) else "",
            self.localized("description", ("A course.", "Line one\n\nLine two"), 2),
            self.localized("descriptionHtml", ("<p>safe <b>bold</b></p>", "<script>x()</script><p>hi</p>"), 1)
            if self.chance(0.1)
            else "",
            self.many(2, lambda: self.el("specifies", self.instance() if self.chance(0.9) else self.foreign())),
            self.many(3 if depth < 3 else 0, lambda: self.el("hasPart", self.many(2, lambda: self.los(depth + 1)))),
            self.foreign(),
        ]
        if self.chance(0.3):
            self.rng.shuffle(parts)
        return self.el("learningOpportunitySpecification", "".join(parts))

    def attachment(self) -> str:
        content = self.rng.choice(
            (
                "data:application/pdf;base64," + base64.b64encode(PDF).decode(),
                "data:application/pdf;base64," + base64.encodebytes(PDF).decode(),
                base64.b64encode(PNG).decode(),
                "data:image/png;base64," + base64.b64encode(PDF).decode().rstrip("="),
                "data:application/pdf;base64,@@@",
                "data:text/plain;charset=utf-8,H%C3%B8st",
                "",
                "data:;base64,",
                base64.b64encode(PDF).decode() + "=",
            )
        )
        return self.el(
            "attachment",
            self.identifiers(1)
            + self.localized("title", ("Transcript", '"Globalny"'), 2)
            + (self.el("type", self.value("EMREX transcript", "Diploma")) if self.chance(0.6) else "")
            + self.localized("description", ("desc",), 1)
            + self.many(2, lambda: self.el("content", content, xml_lang=self.lang())),
        )

    def report(self) -> str:
        issuer = self.el(
            "issuer",
            self.el("country", self.value("DK", "NO"))
            + self.identifiers(3)
            + self.localized("title", ("Universitetet i Oslo", "University of Oslo"))
            + (self.el("url", self.value("https://www.uio.no/")) if self.chance(0.5) else ""),
        )
        schemes = self.many(
            2,
            lambda: self.el(
                "gradingScheme",
                self.localized("description", ("A - Excellent", "pass/fail"), 2),
                localId=self.rng.choice(("G1", "G2", None)),
            ),
        )
        parts = [
            issuer if self.chance(0.9) else "",
            self.learner() if self.chance(0.1) else "",
            self.many(4, lambda: self.los(0)),
            self.el("issueDate", self.date()) if self.chance(0.8) else "",
            schemes,
            self.many(2, self.attachment),
            self.foreign(),
        ]
        if self.chance(0.2):
            self.rng.shuffle(parts)
        return self.el("report", "".join(parts))

    def group(self) -> str:
        titles = self.localized("title", ("Mandatory", "Pakolliset"))
        return self.el("group", titles, id="g", sortingKey=self.rng.choice(("1", None)))

    def group_type(self) -> str:
        body = self.localized("title", ("By category",)) + self.many(3, self.group)
        return self.el("groupType", body, id=self.rng.choice(("1", None)))

    def groups(self) -> str:
        return self.el("groups", self.many(2, self.group_type))

    def xml(self) -> str:
        generated = self.el("generatedDate", self.date()) if self.chance(0.7) else ""
        body = (
            generated
            + (self.learner() if self.chance(0.85) else "")
            + self.many(2, self.report)
            + self.many(2, self.attachment)
            + (self.groups() if self.chance(0.3) else "")
            + self.foreign()
        )
        declaration = f" xmlns:{self.prefix[:-1]}" if self.prefix else " xmlns"
        tag = self.prefix + "elmo"
        return f"<{tag}{declaration}='{self.namespace}'>{self.gap()}{body}</{tag}>"


def expected_outcomes() -> dict[str, str]:
    """The reader's current outcome for every document (``python -m tests.core.elmo.reader_corpus`` prints them)."""
    return {name: outcome(load()) for name, load in all_documents().items()}


if __name__ == "__main__":
    import json

    print(json.dumps(expected_outcomes(), indent=1, sort_keys=True))
