"""The typed ELMO model (frozen dataclasses) and its JSON form.

``ElmoDocument.to_json()``, encoded by :func:`emrex_emc.core.canonical.canonical_json`, is what an SIS
receives; it is described by ``emrex_emc/schemas/elmo-results.schema.json``. Keys are emitted in a fixed
order, dates are ISO-8601 strings, decimals are strings, and attachment bytes are never part of the JSON
(see :meth:`ElmoDocument.contents`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from emrex_emc.core.elmo.primitives import (
    Identifier,
    LocalizedText,
    decimal_or_none,
    iso_or_none,
    json_list,
)
from emrex_emc.core.elmo.summary import summarize
from emrex_emc.core.errors import Notice
from emrex_emc.core.outcome import ResultSummary

PASSED = "passed"
COURSE_TYPE = "course"
DOCUMENT_TYPES = ("Diploma", "Certificate", "Enrolment", "Admission")
"""ELMO 2.1 ``documentType`` values; a v2-namespace specification without one is a ``Diploma`` (the XSD's rule)."""
DEFAULT_DOCUMENT_TYPE = "Diploma"


@dataclass(frozen=True)
class Learner:
    given_names: str
    family_name: str
    birth_date: date | None = None
    citizenship: str | None = None
    identifiers: tuple[Identifier, ...] = ()
    gender: str | None = None
    place_of_birth: str | None = None
    birth_name: str | None = None
    alternative_name: LocalizedText | None = None
    """ELMO 2.1 ``alternativeName``: the full name as one string, usually in a non-Latin script."""
    country_of_birth: str | None = None
    """ISO 3166-1 alpha-2 (ELMO 2.1 ``countryOfBirth``, normalized like every country)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "given_names": self.given_names,
            "family_name": self.family_name,
            "alternative_name": self.alternative_name.to_json() if self.alternative_name else None,
            "birth_date": iso_or_none(self.birth_date),
            "citizenship": self.citizenship,
            "country_of_birth": self.country_of_birth,
            "gender": self.gender,
            "place_of_birth": self.place_of_birth,
            "birth_name": self.birth_name,
            "identifiers": json_list(self.identifiers),
        }


@dataclass(frozen=True)
class Credit:
    scheme: str
    value: Decimal | None = None
    level: str | None = None

    @property
    def is_ects(self) -> bool:
        return self.scheme.strip().casefold() == "ects"

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "is_ects": self.is_ects,
            "value": decimal_or_none(self.value),
            "level": self.level,
        }


@dataclass(frozen=True)
class Level:
    type: str
    value: str | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value, "description": self.description}


@dataclass(frozen=True)
class AcademicTerm:
    titles: tuple[LocalizedText, ...] = ()
    start: date | None = None
    end: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {"titles": json_list(self.titles), "start": iso_or_none(self.start), "end": iso_or_none(self.end)}


@dataclass(frozen=True)
class Grouping:
    typeref: str
    idref: str

    def to_json(self) -> dict[str, Any]:
        return {"typeref": self.typeref, "idref": self.idref}


@dataclass(frozen=True)
class GradingScheme:
    local_id: str
    descriptions: tuple[LocalizedText, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"local_id": self.local_id, "descriptions": json_list(self.descriptions)}


@dataclass(frozen=True)
class Instance:
    """A learningOpportunityInstance: the result of one learning opportunity."""

    identifiers: tuple[Identifier, ...] = ()
    start: date | None = None
    completion_date: date | None = None
    """ELMO ``date``: when the result was achieved."""
    status: str = PASSED
    """``passed`` when the document does not say (ELMO's rule); else the value as sent."""
    status_declared: bool = False
    result_label: str | None = None
    grading_scheme_local_id: str | None = None
    grading_scheme: tuple[LocalizedText, ...] = ()
    """Descriptions of the report's gradingScheme with ``grading_scheme_local_id``."""
    credits: tuple[Credit, ...] = ()
    levels: tuple[Level, ...] = ()
    language_of_instruction: str | None = None
    engagement_hours: Decimal | None = None
    academic_term: AcademicTerm | None = None
    groupings: tuple[Grouping, ...] = ()
    attachment_refs: tuple[str, ...] = ()
    has_diploma_supplement: bool = False
    enrolment: Enrolment | None = None
    """ELMO 2.1 ``enrolment``: where and when the learner is enrolled (an enrolment proof)."""

    @property
    def ects(self) -> Decimal | None:
        """The value of the first ECTS credit (scheme compared case-insensitively) that has one."""
        return next((c.value for c in self.credits if c.is_ects and c.value is not None), None)

    @property
    def passed(self) -> bool:
        return self.status.strip().casefold() == PASSED

    def to_json(self) -> dict[str, Any]:
        return {
            "identifiers": json_list(self.identifiers),
            "start": iso_or_none(self.start),
            "date": iso_or_none(self.completion_date),
            "status": self.status,
            "status_declared": self.status_declared,
            "result_label": self.result_label,
            "grading_scheme_local_id": self.grading_scheme_local_id,
            "grading_scheme": json_list(self.grading_scheme),
            "credits": json_list(self.credits),
            "ects": decimal_or_none(self.ects),
            "levels": json_list(self.levels),
            "language_of_instruction": self.language_of_instruction,
            "engagement_hours": decimal_or_none(self.engagement_hours),
            "academic_term": self.academic_term.to_json() if self.academic_term else None,
            "groupings": json_list(self.groupings),
            "attachment_refs": list(self.attachment_refs),
            "has_diploma_supplement": self.has_diploma_supplement,
            "enrolment": self.enrolment.to_json() if self.enrolment else None,
        }


@dataclass(frozen=True)
class LearningOpportunity:
    """A learningOpportunitySpecification with its instance and its parts (``hasPart``)."""

    identifiers: tuple[Identifier, ...] = ()
    titles: tuple[LocalizedText, ...] = ()
    type: str | None = None
    subject_area: str | None = None
    isced_code: str | None = None
    url: str | None = None
    descriptions: tuple[LocalizedText, ...] = ()
    descriptions_html: tuple[LocalizedText, ...] = ()
    """Sanitized HTML (only harmless formatting tags survive)."""
    instance: Instance | None = None
    parts: tuple[LearningOpportunity, ...] = ()
    document_type: str | None = None
    """One of :data:`DOCUMENT_TYPES`: as sent, else the parent's, else ``Diploma`` in v2 documents; None in v1."""

    @property
    def is_course(self) -> bool:
        """Type ``Course`` (any case); a node without a type counts when it is a leaf."""
        if self.type is None or not self.type.strip():
            return not self.parts
        return self.type.strip().casefold() == COURSE_TYPE

    def walk(self) -> Iterator[LearningOpportunity]:
        yield self
        for part in self.parts:
            yield from part.walk()

    def to_json(self) -> dict[str, Any]:
        return {
            "identifiers": json_list(self.identifiers),
            "titles": json_list(self.titles),
            "type": self.type,
            "is_course": self.is_course,
            "subject_area": self.subject_area,
            "isced_code": self.isced_code,
            "url": self.url,
            "descriptions": json_list(self.descriptions),
            "descriptions_html": json_list(self.descriptions_html),
            "document_type": self.document_type,
            "instance": self.instance.to_json() if self.instance else None,
            "parts": json_list(self.parts),
        }


@dataclass(frozen=True)
class Issuer:
    identifiers: tuple[Identifier, ...] = ()
    titles: tuple[LocalizedText, ...] = ()
    country: str | None = None
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "identifiers": json_list(self.identifiers),
            "titles": json_list(self.titles),
            "country": self.country,
            "url": self.url,
        }


@dataclass(frozen=True)
class AcademicYear:
    start: date | None = None
    end: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {"start": iso_or_none(self.start), "end": iso_or_none(self.end)}


@dataclass(frozen=True)
class Enrolment:
    """ELMO 2.1 ``enrolment`` of a learning opportunity instance."""

    institution: Issuer = field(default_factory=Issuer)
    """``enrolmentInstitution``: the institution the learner is enrolled at (an empty one when missing)."""
    enrolled_on: date | None = None
    """``enrolmentDate`` (JSON ``date``)."""
    academic_year: AcademicYear = field(default_factory=AcademicYear)

    def to_json(self) -> dict[str, Any]:
        return {
            "institution": self.institution.to_json(),
            "date": iso_or_none(self.enrolled_on),
            "academic_year": self.academic_year.to_json(),
        }


@dataclass(frozen=True)
class RecognitionMapping:
    """One ``recognitionMapping``: ``ref`` texts of its ``fromMapping`` and ``toMapping`` elements."""

    from_mapping: tuple[str, ...] = ()
    to_mapping: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"from_mapping": list(self.from_mapping), "to_mapping": list(self.to_mapping)}


@dataclass(frozen=True)
class ResultOfRecognition:
    """A ``resultOfRecognition``: the JSON keys are the XSD's element names in snake_case.

    ``recognition_basis`` holds the ``recognitionReport`` of each ``recognitionBasis`` (report-shaped),
    ``recognition_result`` the ``learningOpportunitySpecification`` of each ``recognitionResult``.
    """

    identifier: tuple[Identifier, ...] = ()
    title: tuple[LocalizedText, ...] = ()
    description: tuple[LocalizedText, ...] = ()
    subject_area: str | None = None
    isced_code: str | None = None
    status: str | None = None
    """Positive, Negative or Partially Positive (as sent)."""
    decision_date: date | None = None
    recognition_basis: tuple[Report, ...] = ()
    recognition_result: tuple[LearningOpportunity, ...] = ()
    recognition_mapping: tuple[RecognitionMapping, ...] = ()
    attachments: tuple[str, ...] = ()
    """The ``ref`` texts of its ``attachments``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "identifier": json_list(self.identifier),
            "title": json_list(self.title),
            "description": json_list(self.description),
            "subject_area": self.subject_area,
            "isced_code": self.isced_code,
            "status": self.status,
            "decision_date": iso_or_none(self.decision_date),
            "recognition_basis": json_list(self.recognition_basis),
            "recognition_result": json_list(self.recognition_result),
            "recognition_mapping": json_list(self.recognition_mapping),
            "attachments": list(self.attachments),
        }


@dataclass(frozen=True)
class AttachmentContent:
    """One decoded ``content`` of an attachment. ``data`` is kept for storage, never put into JSON."""

    index: int
    """Position among all decoded contents of the document (reports first, then top level)."""
    mime_type: str
    """Sniffed from the bytes."""
    declared_mime_type: str | None
    encoding: str
    """``data_uri`` or ``base64`` (bare base64, tolerated)."""
    size: int
    sha256: str
    lang: str | None = None
    data: bytes = field(default=b"", repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "lang": self.lang,
            "mime_type": self.mime_type,
            "declared_mime_type": self.declared_mime_type,
            "encoding": self.encoding,
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Attachment:
    identifiers: tuple[Identifier, ...] = ()
    titles: tuple[LocalizedText, ...] = ()
    type: str | None = None
    descriptions: tuple[LocalizedText, ...] = ()
    contents: tuple[AttachmentContent, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "identifiers": json_list(self.identifiers),
            "titles": json_list(self.titles),
            "type": self.type,
            "descriptions": json_list(self.descriptions),
            "contents": json_list(self.contents),
        }


@dataclass(frozen=True)
class Report:
    issuer: Issuer
    issue_date: datetime | date | None = None
    learning_opportunities: tuple[LearningOpportunity, ...] = ()
    grading_schemes: tuple[GradingScheme, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    result_of_recognition: tuple[ResultOfRecognition, ...] = ()

    def all_learning_opportunities(self) -> Iterator[LearningOpportunity]:
        for los in self.learning_opportunities:
            yield from los.walk()

    def all_attachments(self) -> Iterator[Attachment]:
        """Its attachments and those of the recognition reports inside it, in reading order."""
        for result in self.result_of_recognition:
            for basis in result.recognition_basis:
                yield from basis.all_attachments()
        yield from self.attachments

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer.to_json(),
            "issue_date": iso_or_none(self.issue_date),
            "learning_opportunities": json_list(self.learning_opportunities),
            "result_of_recognition": json_list(self.result_of_recognition),
            "grading_schemes": json_list(self.grading_schemes),
            "attachments": json_list(self.attachments),
        }


@dataclass(frozen=True)
class Group:
    id: str
    sorting_key: str | None = None
    titles: tuple[LocalizedText, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "sorting_key": self.sorting_key, "titles": json_list(self.titles)}


@dataclass(frozen=True)
class GroupType:
    id: str
    titles: tuple[LocalizedText, ...] = ()
    groups: tuple[Group, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "titles": json_list(self.titles), "groups": json_list(self.groups)}


@dataclass(frozen=True)
class ElmoDocument:
    version: str
    """``v1``, ``v1.3.0`` or ``v2`` (see :func:`emrex_emc.core.elmo.versions.detect_version`)."""
    namespace: str
    learner: Learner
    generated_date: datetime | date | None = None
    reports: tuple[Report, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    """Top-level (cross-institution) attachments."""
    group_types: tuple[GroupType, ...] = ()
    notices: tuple[Notice, ...] = ()

    @property
    def has_diploma_supplement(self) -> bool:
        return any(
            los.instance is not None and los.instance.has_diploma_supplement
            for report in self.reports
            for los in report.all_learning_opportunities()
        )

    def all_attachments(self) -> Iterator[Attachment]:
        for report in self.reports:
            yield from report.all_attachments()
        yield from self.attachments

    @property
    def document_types(self) -> list[str]:
        """The distinct ``document_type`` values of the reports' learning opportunities, sorted."""
        found = {
            los.document_type
            for report in self.reports
            for los in report.all_learning_opportunities()
            if los.document_type is not None
        }
        return sorted(found)

    @cached_property
    def summary(self) -> ResultSummary:
        """Counts for people and dashboards (:func:`emrex_emc.core.elmo.summary.summarize`): worked out once,
        for the results JSON and the outcome alike."""
        return summarize(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "elmo_version": self.version,
            "namespace": self.namespace,
            "generated_date": iso_or_none(self.generated_date),
            "learner": self.learner.to_json(),
            "reports": json_list(self.reports),
            "attachments": json_list(self.attachments),
            "groups": json_list(self.group_types),
            "has_diploma_supplement": self.has_diploma_supplement,
            "summary": self.summary.to_json(),
            "notices": json_list(self.notices),
        }

    def contents(self) -> list[tuple[Attachment, AttachmentContent]]:
        """Every decoded content (its bytes and their SHA-256) with its attachment, in ``index`` order: what
        is stored beside the results (e.g. S3)."""
        found = [(attachment, content) for attachment in self.all_attachments() for content in attachment.contents]
        return sorted(found, key=lambda pair: pair[1].index)
