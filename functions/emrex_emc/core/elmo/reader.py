"""Read an ``elmo`` element tree into the typed model.

Elements are found by local name inside the document's ELMO namespace (prefixes do not matter);
anything else (extensions, ``ds:Signature``, unknown elements) is ignored, as ELMO requires of clients.
The reader is lenient: odd values become ``None`` plus a :class:`Notice`, never an exception.
Notices never contain personal data (no names, dates or identifiers, only where the problem is).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import cast

from lxml import etree

from emrex_emc.core.elmo.attachments import AttachmentDecodeError, decode_content, mime_types_agree
from emrex_emc.core.elmo.model import (
    PASSED,
    AcademicTerm,
    Attachment,
    AttachmentContent,
    Credit,
    ElmoDocument,
    GradingScheme,
    Group,
    Grouping,
    GroupType,
    Identifier,
    Instance,
    Issuer,
    Learner,
    LearningOpportunity,
    Level,
    LocalizedText,
    Report,
)
from emrex_emc.core.elmo.versions import detect_version, namespace_for
from emrex_emc.core.errors import Notice

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_DATE_PREFIX = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})")
_MAX_NOTICES_PER_CODE = 20


class _Reader:
    def __init__(self, namespace: str) -> None:
        self.ns = namespace
        self._notices: dict[tuple[str, str], Notice] = {}
        self._per_code: dict[str, int] = {}
        self._content_index = 0

    # -- notices -----------------------------------------------------------------------------
    def notice(self, code: str, message: str) -> None:
        if (code, message) in self._notices:
            return
        count = self._per_code.get(code, 0) + 1
        self._per_code[code] = count
        if count <= _MAX_NOTICES_PER_CODE:
            self._notices[(code, message)] = Notice(code, message)

    def notices(self) -> tuple[Notice, ...]:
        result = list(self._notices.values())
        for code, count in self._per_code.items():
            if count > _MAX_NOTICES_PER_CODE:
                result.append(Notice(code, f"{count - _MAX_NOTICES_PER_CODE} more {code} notices were left out"))
        return tuple(result)

    # -- element access ----------------------------------------------------------------------
    def children(self, parent: etree._Element | None, name: str) -> list[etree._Element]:
        if parent is None:
            return []
        return list(parent.iterchildren(f"{{{self.ns}}}{name}"))

    def child(self, parent: etree._Element | None, name: str) -> etree._Element | None:
        if parent is None:
            return None
        return next(parent.iterchildren(f"{{{self.ns}}}{name}"), None)

    @staticmethod
    def text_of(element: etree._Element | None, strip: bool = True) -> str | None:
        """All text inside the element (CDATA included, comments excluded); empty -> None."""
        if element is None:
            return None
        text = "".join(cast(Iterator[str], element.itertext()))
        text = text.strip() if strip else text
        return text if text.strip() else None

    def text(self, parent: etree._Element | None, name: str) -> str | None:
        return self.text_of(self.child(parent, name))

    def localized(self, parent: etree._Element | None, name: str) -> tuple[LocalizedText, ...]:
        items = []
        for element in self.children(parent, name):
            value = self.text_of(element)
            if value is not None:
                items.append(LocalizedText(value, element.get(XML_LANG)))
        return tuple(items)

    def identifiers(self, parent: etree._Element | None) -> tuple[Identifier, ...]:
        items = []
        for element in self.children(parent, "identifier"):
            value = self.text_of(element)
            if value is not None:
                items.append(Identifier(value, element.get("type")))
        return tuple(items)

    # -- values ------------------------------------------------------------------------------
    def date_value(self, parent: etree._Element | None, name: str, where: str) -> date | None:
        """An xs:date; a timezone or time part is stripped (``2009-09-25+02:00`` -> 2009-09-25)."""
        raw = self.text(parent, name)
        if raw is None:
            return None
        match = _DATE_PREFIX.match(raw)
        if match:
            try:
                return date.fromisoformat(match.group(1))
            except ValueError:
                pass
        self.notice("VALUE_INVALID", f"{where}/{name} is not a valid date; it was left out")
        return None

    def datetime_value(self, parent: etree._Element | None, name: str, where: str) -> datetime | date | None:
        raw = self.text(parent, name)
        if raw is None:
            return None
        try:
            return datetime.fromisoformat(raw) if "T" in raw else date.fromisoformat(raw)
        except ValueError:
            pass
        parsed = self.date_value(parent, name, where)
        if parsed is not None:
            self.notice("VALUE_INVALID", f"{where}/{name} is not a valid date-time; only its date was kept")
        return parsed

    def decimal_value(self, parent: etree._Element | None, name: str, where: str) -> Decimal | None:
        """A decimal written with ``.`` or ``,`` (``7,5`` -> 7.5)."""
        raw = self.text(parent, name)
        if raw is None:
            return None
        try:
            value = Decimal(raw.replace(",", ".").replace(" ", ""))
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            self.notice("VALUE_INVALID", f"{where}/{name} is not a decimal number; it was left out")
            return None
        return value

    # -- learner -----------------------------------------------------------------------------
    def learner(self, root: etree._Element) -> Learner:
        element = self.child(root, "learner")
        if element is None:  # pre-1.0 documents put the learner inside the report
            element = next(
                (e for r in self.children(root, "report") for e in self.children(r, "learner") if len(e)), None
            )
        if element is None:
            self.notice("LEARNER_MISSING", "the document has no learner; identity cannot be checked")
            return Learner(given_names="", family_name="")
        birth_date_tag = "dateOfBirth" if self.child(element, "dateOfBirth") is not None else "bday"
        return Learner(
            given_names=self.text(element, "givenNames") or "",
            family_name=self.text(element, "familyName") or "",
            birth_date=self.date_value(element, birth_date_tag, "learner"),
            citizenship=self.text(element, "citizenship"),
            identifiers=self.identifiers(element),
            gender=self.text(element, "gender"),
            place_of_birth=self.text(element, "placeOfBirth"),
            birth_name=self.text(element, "birthName"),
        )

    # -- reports -----------------------------------------------------------------------------
    def issuer(self, report: etree._Element) -> Issuer:
        element = self.child(report, "issuer")
        if element is None:
            self.notice("VALUE_MISSING", "a report has no issuer")
        return Issuer(
            identifiers=self.identifiers(element),
            titles=self.localized(element, "title"),
            country=self.text(element, "country"),
            url=self.text(element, "url"),
        )

    def grading_schemes(self, report: etree._Element) -> tuple[GradingScheme, ...]:
        return tuple(
            GradingScheme(local_id=element.get("localId", ""), descriptions=self.localized(element, "description"))
            for element in self.children(report, "gradingScheme")
        )

    def report(self, element: etree._Element) -> Report:
        schemes = self.grading_schemes(element)
        by_id = {scheme.local_id: scheme.descriptions for scheme in schemes}
        return Report(
            issuer=self.issuer(element),
            issue_date=self.datetime_value(element, "issueDate", "report"),
            learning_opportunities=tuple(
                self.los(e, by_id) for e in self.children(element, "learningOpportunitySpecification")
            ),
            grading_schemes=schemes,
            attachments=tuple(self.attachment(e) for e in self.children(element, "attachment")),
        )

    # -- learning opportunities --------------------------------------------------------------
    def los(self, element: etree._Element, schemes: dict[str, tuple[LocalizedText, ...]]) -> LearningOpportunity:
        loi = self.child(self.child(element, "specifies"), "learningOpportunityInstance")
        parts = tuple(
            self.los(child, schemes)
            for has_part in self.children(element, "hasPart")
            for child in self.children(has_part, "learningOpportunitySpecification")
        )
        return LearningOpportunity(
            identifiers=self.identifiers(element),
            titles=self.localized(element, "title"),
            type=self.text(element, "type"),
            subject_area=self.text(element, "subjectArea"),
            isced_code=self.text(element, "iscedCode"),
            url=self.text(element, "url"),
            descriptions=self.localized(element, "description"),
            descriptions_html=self.descriptions_html(element),
            instance=self.instance(loi, schemes) if loi is not None else None,
            parts=parts,
        )

    def descriptions_html(self, element: etree._Element) -> tuple[LocalizedText, ...]:
        items = self.localized(element, "descriptionHtml")
        if not items:
            return ()
        from emrex_emc.core.elmo.sanitize import sanitize_html

        cleaned = []
        for item in items:
            safe, removed = sanitize_html(item.value)
            if removed:
                self.notice(
                    "HTML_SANITIZED",
                    "unsafe HTML (scripts, event handlers, disallowed tags or URLs) was removed from a descriptionHtml",
                )
            cleaned.append(LocalizedText(safe, item.lang))
        return tuple(cleaned)

    def instance(self, element: etree._Element, schemes: dict[str, tuple[LocalizedText, ...]]) -> Instance:
        where = "learningOpportunityInstance"
        status = self.text(element, "status")
        scheme_id = self.text(element, "gradingSchemeLocalId")
        term = self.child(element, "academicTerm")
        return Instance(
            identifiers=self.identifiers(element),
            start=self.date_value(element, "start", where),
            completion_date=self.date_value(element, "date", where),
            status=status if status is not None else PASSED,
            status_declared=status is not None,
            result_label=self.text(element, "resultLabel"),
            grading_scheme_local_id=scheme_id,
            grading_scheme=schemes.get(scheme_id, ()) if scheme_id is not None else (),
            credits=tuple(self.credit(e) for e in self.children(element, "credit")),
            levels=tuple(self.level(e) for e in self.children(element, "level")),
            language_of_instruction=self.text(element, "languageOfInstruction"),
            engagement_hours=self.decimal_value(element, "engagementHours", where),
            academic_term=self.academic_term(term) if term is not None else None,
            groupings=tuple(
                Grouping(typeref=e.get("typeref", ""), idref=e.get("idref", ""))
                for e in self.children(element, "grouping")
            ),
            attachment_refs=tuple(
                ref
                for refs in self.children(element, "attachments")
                for ref in (self.text_of(e) for e in self.children(refs, "ref"))
                if ref is not None
            ),
            has_diploma_supplement=self.child(element, "diplomaSupplement") is not None,
        )

    def credit(self, element: etree._Element) -> Credit:
        return Credit(
            scheme=self.text(element, "scheme") or "",
            value=self.decimal_value(element, "value", "credit"),
            level=self.text(element, "level"),
        )

    def level(self, element: etree._Element) -> Level:
        return Level(
            type=self.text(element, "type") or "",
            value=self.text(element, "value"),
            description=self.text(element, "description"),
        )

    def academic_term(self, element: etree._Element) -> AcademicTerm:
        return AcademicTerm(
            titles=self.localized(element, "title"),
            start=self.date_value(element, "start", "academicTerm"),
            end=self.date_value(element, "end", "academicTerm"),
        )

    # -- attachments and groups --------------------------------------------------------------
    def attachment(self, element: etree._Element) -> Attachment:
        contents = []
        for content in self.children(element, "content"):
            decoded = self.content(content)
            if decoded is not None:
                contents.append(decoded)
        return Attachment(
            identifiers=self.identifiers(element),
            titles=self.localized(element, "title"),
            type=self.text(element, "type"),
            descriptions=self.localized(element, "description"),
            contents=tuple(contents),
        )

    def content(self, element: etree._Element) -> AttachmentContent | None:
        raw = self.text_of(element)
        if raw is None:
            self.notice("ATTACHMENT_INVALID", "an attachment content is empty; it was left out")
            return None
        try:
            decoded = decode_content(raw)
        except AttachmentDecodeError as exc:
            self.notice("ATTACHMENT_INVALID", f"an attachment content was left out: {exc}")
            return None
        index = self._content_index
        self._content_index += 1
        sniffed = decoded.mime_type
        if decoded.encoding == "base64":
            self.notice("ATTACHMENT_BARE_BASE64", f"attachment content {index} is bare base64, not a data URI")
        if not mime_types_agree(decoded.declared_mime_type, sniffed):
            self.notice(
                "ATTACHMENT_MIME_MISMATCH",
                f"attachment content {index} is declared {decoded.declared_mime_type}"
                f" but its bytes look like {sniffed}",
            )
        return AttachmentContent(
            index=index,
            mime_type=sniffed,
            declared_mime_type=decoded.declared_mime_type,
            encoding=decoded.encoding,
            size=len(decoded.data),
            sha256=decoded.sha256,
            lang=element.get(XML_LANG),
            data=decoded.data,
        )

    def group_types(self, root: etree._Element) -> tuple[GroupType, ...]:
        return tuple(
            GroupType(
                id=element.get("id", ""),
                titles=self.localized(element, "title"),
                groups=tuple(
                    Group(id=g.get("id", ""), sorting_key=g.get("sortingKey"), titles=self.localized(g, "title"))
                    for g in self.children(element, "group")
                ),
            )
            for groups in self.children(root, "groups")
            for element in self.children(groups, "groupType")
        )


def read_elmo(root: etree._Element) -> ElmoDocument:
    """Read a (verified) ``elmo`` root element into an :class:`ElmoDocument`.

    Raises only what :func:`detect_version` raises (NOT_ELMO, UNSUPPORTED_FORMAT); everything odd
    inside a supported document is recorded as a notice.
    """
    version = detect_version(root)
    reader = _Reader(namespace_for(version))
    reports = tuple(reader.report(e) for e in reader.children(root, "report"))
    if not reports:
        reader.notice("VALUE_MISSING", "the document has no report")
    return ElmoDocument(
        version=version,
        namespace=reader.ns,
        generated_date=reader.datetime_value(root, "generatedDate", "elmo"),
        learner=reader.learner(root),
        reports=reports,
        attachments=tuple(reader.attachment(e) for e in reader.children(root, "attachment")),
        group_types=reader.group_types(root),
        notices=reader.notices(),
    )
