"""Reading courses: a ``learningOpportunitySpecification`` with its parts, its instance (the result), credits,
levels and academic term.

This is the hot path: a transcript is mostly courses (~15 elements each), so the specification, the
instance and the credit are each read in one loop over their children, without grouping every child by
name as :meth:`Elements.scan` does, and their objects are built with :func:`make` (all fields at once).
The output, notices and their order included, is pinned by ``tests/core/elmo/test_reader_equivalence.py``.

To read a new field of an element kind: a child read as plain text goes into that kind's ``_*_TEXTS`` set
and its value into the field dict; a child with structure is collected in the loop (or, for an instance,
found in ``rare``) and converted where the field dict is built. Keep the conversions in the field dict's
order: notices are recorded in the order they arise.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from emrex_emc.core.elmo.elements import (
    Elements,
    Kids,
    Texts,
    first_named,
    identifier,
    identifiers,
    localized,
    localized_text,
    make,
    text_of,
)
from emrex_emc.core.elmo.model import (
    DOCUMENT_TYPES,
    PASSED,
    AcademicTerm,
    AcademicYear,
    Credit,
    Enrolment,
    Grouping,
    Instance,
    Issuer,
    LearningOpportunity,
    Level,
)
from emrex_emc.core.elmo.primitives import Identifier, LocalizedText
from emrex_emc.core.elmo.values import Notices, Values

# the children each element kind reads as plain text (the first one of each name counts)
_SPECIFICATION_TEXTS = frozenset({"type", "subjectArea", "iscedCode", "url", "documentType"})
_INSTANCE_TEXTS = frozenset(
    {"status", "gradingSchemeLocalId", "resultLabel", "languageOfInstruction", "start", "date", "engagementHours"}
)
_CREDIT_TEXTS = frozenset({"scheme", "value", "level"})
_LEVEL_TEXTS = frozenset({"type", "value", "description"})
_TERM_TEXTS = frozenset({"start", "end"})
_ENROLMENT_TEXTS = frozenset({"enrolmentDate"})
_DOCUMENT_TYPES = {name.casefold(): name for name in DOCUMENT_TYPES}

GradingSchemes = dict[str, tuple[LocalizedText, ...]]
"""A report's grading scheme descriptions by ``localId``."""
IssuerReader = Callable[[etree._Element | None, str], Issuer]
"""Reads an ``Issuer``-typed element (the document reader's; an enrolment names its institution so)."""


class CourseReader:
    """Reads the learning opportunities of one report, recording notices in the read's :class:`Notices`."""

    def __init__(
        self,
        elements: Elements,
        values: Values,
        notices: Notices,
        issuer: IssuerReader,
        default_document_type: str | None = None,
    ) -> None:
        self._elements = elements
        self._values = values
        self._notices = notices
        self._issuer = issuer
        self._default_document_type = default_document_type
        self._specification_tag = elements.tag("learningOpportunitySpecification")
        self._instance_tag = elements.tag("learningOpportunityInstance")
        self._ref_tag = elements.tag("ref")

    def learning_opportunity(
        self, element: etree._Element, schemes: GradingSchemes, parent_type: str | None = None
    ) -> LearningOpportunity:
        """A ``learningOpportunitySpecification`` with its instance and its parts (``hasPart``).

        Its ``documentType`` is its own, else its parent's (``parent_type``), else the version's default. The
        parts are read before the instance: that is the order their notices are recorded in."""
        local_names = self._elements.local_names
        texts: Texts = {}
        ids: list[Identifier] = []
        titles: list[LocalizedText] = []
        descriptions: list[LocalizedText] = []
        html: list[etree._Element] = []
        has_parts: list[etree._Element] = []
        specifies = None
        for node in element:
            name = local_names[node.tag]
            if name is None:
                continue
            if name in _SPECIFICATION_TEXTS:
                if name not in texts:
                    texts[name] = text_of(node)
            elif name == "title":
                if (title := localized_text(node)) is not None:
                    titles.append(title)
            elif name == "identifier":
                if (found := identifier(node)) is not None:
                    ids.append(found)
            elif name == "description":
                if (description := localized_text(node)) is not None:
                    descriptions.append(description)
            elif name == "descriptionHtml":
                html.append(node)
            elif name == "hasPart":
                has_parts.append(node)
            elif name == "specifies" and specifies is None:
                specifies = node
        document_type = self._document_type(texts.get("documentType")) or parent_type or self._default_document_type
        tag = self._specification_tag
        parts = [
            self.learning_opportunity(node, schemes, document_type)
            for part in has_parts
            for node in part
            if node.tag == tag
        ]
        instance = first_named(specifies, self._instance_tag) if specifies is not None else None
        return make(
            LearningOpportunity,
            {
                "identifiers": tuple(ids),
                "titles": tuple(titles),
                "type": texts.get("type"),
                "subject_area": texts.get("subjectArea"),
                "isced_code": texts.get("iscedCode"),
                "url": texts.get("url"),
                "descriptions": tuple(descriptions),
                "descriptions_html": self._descriptions_html(html) if html else (),
                "instance": self.instance(instance, schemes) if instance is not None else None,
                "parts": tuple(parts),
                "document_type": document_type,
            },
        )

    def _document_type(self, raw: str | None) -> str | None:
        """A ``documentType`` in its XSD spelling (compared case-insensitively); anything else is ignored."""
        if raw is None:
            return None
        known = _DOCUMENT_TYPES.get(raw.casefold())
        if known is None:
            self._notices.add(
                "VALUE_INVALID",
                "learningOpportunitySpecification/documentType is not Diploma, Certificate, Enrolment or Admission;"
                " it was ignored",
            )
        return known

    def _descriptions_html(self, elements: list[etree._Element]) -> tuple[LocalizedText, ...]:
        # imported here: sanitize loads html.parser (~2.5 ms of a cold start) and most documents have no HTML
        from emrex_emc.core.elmo.sanitize import sanitize_html

        cleaned = []
        for element in elements:
            item = localized_text(element)
            if item is None:
                continue
            safe, removed = sanitize_html(item.value)
            if removed:
                self._notices.add(
                    "HTML_SANITIZED",
                    "unsafe HTML (scripts, event handlers, disallowed tags or URLs) was removed from a descriptionHtml",
                )
            cleaned.append(LocalizedText(safe, item.lang))
        return tuple(cleaned)

    def instance(self, element: etree._Element, schemes: GradingSchemes) -> Instance:
        """A ``learningOpportunityInstance``: the result; its grading scheme is looked up in ``schemes``."""
        where = "learningOpportunityInstance"
        local_names = self._elements.local_names
        values = self._values
        texts: Texts = {}
        credits: list[etree._Element] = []
        rare: Kids = {}  # the children most courses lack (identifier, level, grouping, attachments)
        term = None
        diploma_supplement = False
        for node in element:
            name = local_names[node.tag]
            if name is None:
                continue
            if name in _INSTANCE_TEXTS:
                if name not in texts:
                    texts[name] = text_of(node)
            elif name == "credit":
                credits.append(node)
            elif name == "academicTerm":
                if term is None:
                    term = node
            elif name == "diplomaSupplement":
                diploma_supplement = True
            else:
                rare.setdefault(name, []).append(node)
        status = texts.get("status")
        scheme_id = texts.get("gradingSchemeLocalId")
        return make(
            Instance,
            {
                "identifiers": identifiers(rare),
                "start": values.as_date(texts.get("start"), "start", where),
                "completion_date": values.as_date(texts.get("date"), "date", where),
                "status": status if status is not None else PASSED,
                "status_declared": status is not None,
                "result_label": texts.get("resultLabel"),
                "grading_scheme_local_id": scheme_id,
                "grading_scheme": schemes.get(scheme_id, ()) if scheme_id is not None else (),
                "credits": tuple([self.credit(e) for e in credits]),
                "levels": tuple([self.level(e) for e in rare.get("level", ())]),
                "language_of_instruction": texts.get("languageOfInstruction"),
                "engagement_hours": values.as_decimal(texts.get("engagementHours"), "engagementHours", where),
                "academic_term": self.academic_term(term) if term is not None else None,
                "groupings": tuple(
                    [Grouping(typeref=e.get("typeref", ""), idref=e.get("idref", "")) for e in rare.get("grouping", ())]
                ),
                "attachment_refs": self._attachment_refs(rare.get("attachments")),
                "has_diploma_supplement": diploma_supplement,
                "enrolment": self.enrolment(rare["enrolment"][0]) if "enrolment" in rare else None,
            },
        )

    def enrolment(self, element: etree._Element) -> Enrolment:
        """ELMO 2.1 ``enrolment``: the institution (an ``Issuer``), the enrolment date and the academic year."""
        kids, texts = self._elements.scan(element, _ENROLMENT_TEXTS)
        institution = kids.get("enrolmentInstitution")
        if not institution:
            self._notices.add("VALUE_MISSING", "an enrolment has no enrolmentInstitution")
        year = kids.get("academicYear")
        year_texts = self._elements.texts(year[0], _TERM_TEXTS) if year else {}
        return Enrolment(
            institution=self._issuer(institution[0] if institution else None, "enrolmentInstitution"),
            enrolled_on=self._values.as_date(texts.get("enrolmentDate"), "enrolmentDate", "enrolment"),
            academic_year=AcademicYear(
                start=self._values.as_date(year_texts.get("start"), "start", "academicYear"),
                end=self._values.as_date(year_texts.get("end"), "end", "academicYear"),
            ),
        )

    def _attachment_refs(self, ref_lists: list[etree._Element] | None) -> tuple[str, ...]:
        """The texts of the ``ref`` children of an instance's ``attachments`` elements."""
        if not ref_lists:
            return ()
        ref_tag = self._ref_tag
        texts = (text_of(ref) for refs in ref_lists for ref in refs if ref.tag == ref_tag)
        return tuple([ref for ref in texts if ref is not None])

    def credit(self, element: etree._Element) -> Credit:
        texts = self._elements.texts(element, _CREDIT_TEXTS)
        return make(
            Credit,
            {
                "scheme": texts.get("scheme") or "",
                "value": self._values.as_decimal(texts.get("value"), "value", "credit"),
                "level": texts.get("level"),
            },
        )

    def level(self, element: etree._Element) -> Level:
        texts = self._elements.texts(element, _LEVEL_TEXTS)
        return Level(type=texts.get("type") or "", value=texts.get("value"), description=texts.get("description"))

    def academic_term(self, element: etree._Element) -> AcademicTerm:
        kids, texts = self._elements.scan(element, _TERM_TEXTS)
        return AcademicTerm(
            titles=localized(kids, "title"),
            start=self._values.as_date(texts.get("start"), "start", "academicTerm"),
            end=self._values.as_date(texts.get("end"), "end", "academicTerm"),
        )
