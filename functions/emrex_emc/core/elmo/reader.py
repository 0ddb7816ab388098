"""Read an ``elmo`` element tree into the typed model: :func:`read_elmo`.

The document, its learner, reports, issuers, grading schemes and groups are read here; courses by
:class:`CourseReader`, attachments by :class:`AttachmentReader`, values and notices by :mod:`.values`, and
:mod:`.elements` finds children by local name. The reader is lenient: odd values become ``None`` plus a
:class:`Notice`, never an exception.
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from emrex_emc.core.elmo.attachment_reader import AttachmentReader
from emrex_emc.core.elmo.course_reader import CourseReader, GradingSchemes
from emrex_emc.core.elmo.elements import Elements, Kids, Texts, identifiers, localized, localized_text, text_of
from emrex_emc.core.elmo.model import (
    DEFAULT_DOCUMENT_TYPE,
    ElmoDocument,
    GradingScheme,
    Group,
    GroupType,
    Issuer,
    Learner,
    RecognitionMapping,
    Report,
    ResultOfRecognition,
)
from emrex_emc.core.elmo.values import Notices, Values
from emrex_emc.core.elmo.versions import detect_version, namespace_for

# the children each element kind reads as plain text (the first one of each name counts)
_DOCUMENT_TEXTS = frozenset({"generatedDate"})
_LEARNER_TEXTS = frozenset(
    {
        "givenNames",
        "familyName",
        "dateOfBirth",
        "bday",
        "citizenship",
        "gender",
        "placeOfBirth",
        "birthName",
        "countryOfBirth",
    }
)
_ISSUER_TEXTS = frozenset({"country", "url"})
_REPORT_TEXTS = frozenset({"issueDate"})
_RECOGNITION_TEXTS = frozenset({"subjectArea", "iscedCode", "status", "decisionDate"})


def read_elmo(root: etree._Element) -> ElmoDocument:
    """Read a (verified) ``elmo`` root element into an :class:`ElmoDocument`.

    Raises only what :func:`detect_version` raises (NOT_ELMO, UNSUPPORTED_FORMAT); everything odd
    inside a supported document is recorded as a notice.
    """
    version = detect_version(root)
    return _DocumentReader(namespace_for(version), version).document(root, version)


class _DocumentReader:
    """One read of one document: the readers of each element kind share its elements, values and notices."""

    def __init__(self, namespace: str, version: str) -> None:
        self.elements = Elements(namespace)
        self.notices = Notices()
        self.values = Values(self.notices)
        # ELMO 2.1: "when left empty the document will be considered a Diploma" (the v2 namespace only)
        default_type = DEFAULT_DOCUMENT_TYPE if version == "v2" else None
        self.courses = CourseReader(self.elements, self.values, self.notices, self.issuer, default_type)
        self.attachments = AttachmentReader(self.elements, self.notices)

    def document(self, root: etree._Element, version: str) -> ElmoDocument:
        kids, texts = self.elements.scan(root, _DOCUMENT_TEXTS)
        # reports before the top-level attachments: attachment contents are numbered in reading order
        reports = tuple([self.report(e) for e in kids.get("report", ())])
        if not reports:
            self.notices.add("VALUE_MISSING", "the document has no report")
        return ElmoDocument(
            version=version,
            namespace=self.elements.namespace,
            generated_date=self.values.as_date_time(texts.get("generatedDate"), "generatedDate", "elmo"),
            learner=self.learner(kids),
            reports=reports,
            attachments=tuple([self.attachments.attachment(e) for e in kids.get("attachment", ())]),
            group_types=self.group_types(kids),
            notices=self.notices.collected(),
        )

    def learner(self, document: Kids) -> Learner:
        found = document.get("learner")
        element = found[0] if found else None
        if element is None:  # pre-1.0 documents put the learner inside the report
            in_reports = (e for r in document.get("report", ()) for e in self.elements.kids(r).get("learner", ()))
            element = next((e for e in in_reports if len(e)), None)
        if element is None:
            self.notices.add("LEARNER_MISSING", "the document has no learner; identity cannot be checked")
            return Learner(given_names="", family_name="")
        kids, texts = self.elements.scan(element, _LEARNER_TEXTS)
        alternative = kids.get("alternativeName")
        return Learner(
            given_names=texts.get("givenNames") or "",
            family_name=texts.get("familyName") or "",
            birth_date=self.birth_date(texts),
            citizenship=self.values.as_country(texts.get("citizenship"), "citizenship", "learner"),
            identifiers=identifiers(kids),
            gender=texts.get("gender"),
            place_of_birth=texts.get("placeOfBirth"),
            birth_name=texts.get("birthName"),
            alternative_name=localized_text(alternative[0]) if alternative else None,
            country_of_birth=self.values.as_country(texts.get("countryOfBirth"), "countryOfBirth", "learner"),
        )

    def birth_date(self, learner: Texts) -> date | None:
        """``dateOfBirth`` (ELMO 2), else the older ``bday`` (which ELMO 2.1 brought back for older clients)."""
        found = self.values.as_date(learner.get("dateOfBirth"), "dateOfBirth", "learner")
        return found if found is not None else self.values.as_date(learner.get("bday"), "bday", "learner")

    def report(self, element: etree._Element) -> Report:
        """A ``report``, or a ``recognitionReport`` (the same elements, read the same way)."""
        kids, texts = self.elements.scan(element, _REPORT_TEXTS)
        schemes = self.grading_schemes(kids)
        by_id = {scheme.local_id: scheme.descriptions for scheme in schemes}
        found = kids.get("issuer")
        if not found:
            self.notices.add("VALUE_MISSING", "a report has no issuer")
        return Report(
            issuer=self.issuer(found[0] if found else None),
            issue_date=self.values.as_date_time(texts.get("issueDate"), "issueDate", "report"),
            learning_opportunities=tuple(
                [self.courses.learning_opportunity(e, by_id) for e in kids.get("learningOpportunitySpecification", ())]
            ),
            result_of_recognition=tuple(
                [self.result_of_recognition(e, by_id) for e in kids.get("resultOfRecognition", ())]
            ),
            grading_schemes=schemes,
            attachments=tuple([self.attachments.attachment(e) for e in kids.get("attachment", ())]),
        )

    def issuer(self, element: etree._Element | None, where: str = "issuer") -> Issuer:
        """An ``Issuer``-typed element (a report's issuer, an enrolment institution); None gives an empty one."""
        kids, texts = self.elements.scan(element, _ISSUER_TEXTS)
        return Issuer(
            identifiers=identifiers(kids),
            titles=localized(kids, "title"),
            country=self.values.as_country(texts.get("country"), "country", where),
            url=texts.get("url"),
        )

    def result_of_recognition(self, element: etree._Element, schemes: GradingSchemes) -> ResultOfRecognition:
        """A ``resultOfRecognition``; its recognised learning opportunities use the report's grading schemes."""
        kids, texts = self.elements.scan(element, _RECOGNITION_TEXTS)
        kids_of = self.elements.kids
        where = "resultOfRecognition"
        return ResultOfRecognition(
            identifier=identifiers(kids),
            title=localized(kids, "title"),
            description=localized(kids, "description"),
            subject_area=texts.get("subjectArea"),
            isced_code=texts.get("iscedCode"),
            status=texts.get("status"),
            decision_date=self.values.as_date(texts.get("decisionDate"), "decisionDate", where),
            recognition_basis=tuple(
                [
                    self.report(report)
                    for basis in kids.get("recognitionBasis", ())
                    for report in kids_of(basis).get("recognitionReport", ())
                ]
            ),
            recognition_result=tuple(
                [
                    self.courses.learning_opportunity(los, schemes)
                    for result in kids.get("recognitionResult", ())
                    for los in kids_of(result).get("learningOpportunitySpecification", ())
                ]
            ),
            recognition_mapping=tuple(
                [
                    RecognitionMapping(
                        from_mapping=self.refs(kids_of(mapping).get("fromMapping", ())),
                        to_mapping=self.refs(kids_of(mapping).get("toMapping", ())),
                    )
                    for recognition_mapping in kids.get("recognitionMapping", ())
                    for mapping in kids_of(recognition_mapping).get("mapping", ())
                ]
            ),
            attachments=self.refs(kids.get("attachments", ())),
        )

    def refs(self, lists: list[etree._Element] | tuple[()]) -> tuple[str, ...]:
        """The texts of the ``ref`` children of these elements, empty ones left out."""
        texts = (text_of(ref) for element in lists for ref in self.elements.kids(element).get("ref", ()))
        return tuple([text for text in texts if text is not None])

    def grading_schemes(self, report: Kids) -> tuple[GradingScheme, ...]:
        return tuple(
            GradingScheme(local_id=e.get("localId", ""), descriptions=localized(self.elements.kids(e), "description"))
            for e in report.get("gradingScheme", ())
        )

    def group_types(self, document: Kids) -> tuple[GroupType, ...]:
        kids_of = self.elements.kids
        return tuple(
            GroupType(
                id=element.get("id", ""),
                titles=localized(kids, "title"),
                groups=tuple(
                    Group(id=g.get("id", ""), sorting_key=g.get("sortingKey"), titles=localized(kids_of(g), "title"))
                    for g in kids.get("group", ())
                ),
            )
            for groups in document.get("groups", ())
            for element in kids_of(groups).get("groupType", ())
            for kids in (kids_of(element),)
        )
