"""Read an ``elmo`` element tree into the typed model: :func:`read_elmo`.

The document, its learner, reports, issuers, grading schemes and groups are read here; courses by
:class:`CourseReader`, attachments by :class:`AttachmentReader`, values and notices by :mod:`.values`, and
:mod:`.elements` finds children by local name. The reader is lenient: odd values become ``None`` plus a
:class:`Notice`, never an exception.
"""

from __future__ import annotations

from lxml import etree

from emrex_emc.core.elmo.attachment_reader import AttachmentReader
from emrex_emc.core.elmo.course_reader import CourseReader
from emrex_emc.core.elmo.elements import Elements, Kids, identifiers, localized
from emrex_emc.core.elmo.model import ElmoDocument, GradingScheme, Group, GroupType, Issuer, Learner, Report
from emrex_emc.core.elmo.values import Notices, Values
from emrex_emc.core.elmo.versions import detect_version, namespace_for

# the children each element kind reads as plain text (the first one of each name counts)
_DOCUMENT_TEXTS = frozenset({"generatedDate"})
_LEARNER_TEXTS = frozenset(
    {"givenNames", "familyName", "dateOfBirth", "bday", "citizenship", "gender", "placeOfBirth", "birthName"}
)
_ISSUER_TEXTS = frozenset({"country", "url"})
_REPORT_TEXTS = frozenset({"issueDate"})


def read_elmo(root: etree._Element) -> ElmoDocument:
    """Read a (verified) ``elmo`` root element into an :class:`ElmoDocument`.

    Raises only what :func:`detect_version` raises (NOT_ELMO, UNSUPPORTED_FORMAT); everything odd
    inside a supported document is recorded as a notice.
    """
    version = detect_version(root)
    return _DocumentReader(namespace_for(version)).document(root, version)


class _DocumentReader:
    """One read of one document: the readers of each element kind share its elements, values and notices."""

    def __init__(self, namespace: str) -> None:
        self.elements = Elements(namespace)
        self.notices = Notices()
        self.values = Values(self.notices)
        self.courses = CourseReader(self.elements, self.values, self.notices)
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
        birth_date_tag = "dateOfBirth" if "dateOfBirth" in kids else "bday"
        return Learner(
            given_names=texts.get("givenNames") or "",
            family_name=texts.get("familyName") or "",
            birth_date=self.values.as_date(texts.get(birth_date_tag), birth_date_tag, "learner"),
            citizenship=texts.get("citizenship"),
            identifiers=identifiers(kids),
            gender=texts.get("gender"),
            place_of_birth=texts.get("placeOfBirth"),
            birth_name=texts.get("birthName"),
        )

    def report(self, element: etree._Element) -> Report:
        kids, texts = self.elements.scan(element, _REPORT_TEXTS)
        schemes = self.grading_schemes(kids)
        by_id = {scheme.local_id: scheme.descriptions for scheme in schemes}
        return Report(
            issuer=self.issuer(kids),
            issue_date=self.values.as_date_time(texts.get("issueDate"), "issueDate", "report"),
            learning_opportunities=tuple(
                [self.courses.learning_opportunity(e, by_id) for e in kids.get("learningOpportunitySpecification", ())]
            ),
            grading_schemes=schemes,
            attachments=tuple([self.attachments.attachment(e) for e in kids.get("attachment", ())]),
        )

    def issuer(self, report: Kids) -> Issuer:
        found = report.get("issuer")
        if not found:
            self.notices.add("VALUE_MISSING", "a report has no issuer")
        kids, texts = self.elements.scan(found[0] if found else None, _ISSUER_TEXTS)
        return Issuer(
            identifiers=identifiers(kids),
            titles=localized(kids, "title"),
            country=texts.get("country"),
            url=texts.get("url"),
        )

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
