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
Kids = dict[str, list[etree._Element]]


class _Reader:
    def __init__(self, namespace: str) -> None:
        self.ns = namespace
        self.prefix = f"{{{namespace}}}"
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
    def kids(self, element: etree._Element | None) -> Kids:
        """The element's ELMO children grouped by local name (one pass; lookups are then dict gets)."""
        grouped: Kids = {}
        if element is None:
            return grouped
        prefix, cut = self.prefix, len(self.prefix)
        for node in element:
            tag = node.tag
            if isinstance(tag, str) and tag.startswith(prefix):
                grouped.setdefault(tag[cut:], []).append(node)
        return grouped

    @staticmethod
    def children(kids: Kids, name: str) -> list[etree._Element]:
        return kids.get(name, [])

    @staticmethod
    def child(kids: Kids, name: str) -> etree._Element | None:
        found = kids.get(name)
        return found[0] if found else None

    @staticmethod
    def text_of(element: etree._Element | None, strip: bool = True) -> str | None:
        """All text inside the element (CDATA included, comments excluded); empty -> None."""
        if element is None:
            return None
        # with children (or comments) gather all text below; a leaf's text already includes its CDATA
        text = "".join(cast(Iterator[str], element.itertext())) if len(element) else element.text or ""
        text = text.strip() if strip else text
        return text if text.strip() else None

    def text(self, parent: Kids, name: str) -> str | None:
        return self.text_of(self.child(parent, name))

    def localized(self, parent: Kids, name: str) -> tuple[LocalizedText, ...]:
        items = []
        for element in self.children(parent, name):
            value = self.text_of(element)
            if value is not None:
                items.append(LocalizedText(value, element.get(XML_LANG)))
        return tuple(items)

    def identifiers(self, parent: Kids) -> tuple[Identifier, ...]:
        items = []
        for element in self.children(parent, "identifier"):
            value = self.text_of(element)
            if value is not None:
                items.append(Identifier(value, element.get("type")))
        return tuple(items)

    # -- values ------------------------------------------------------------------------------
    def date_value(self, parent: Kids, name: str, where: str) -> date | None:
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

    def datetime_value(self, parent: Kids, name: str, where: str) -> datetime | date | None:
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

    def decimal_value(self, parent: Kids, name: str, where: str) -> Decimal | None:
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
    def learner(self, root: Kids) -> Learner:
        element = self.child(root, "learner")
        if element is None:  # pre-1.0 documents put the learner inside the report
            in_reports = (e for r in self.children(root, "report") for e in self.children(self.kids(r), "learner"))
            element = next((e for e in in_reports if len(e)), None)
        if element is None:
            self.notice("LEARNER_MISSING", "the document has no learner; identity cannot be checked")
            return Learner(given_names="", family_name="")
        kids = self.kids(element)
        birth_date_tag = "dateOfBirth" if "dateOfBirth" in kids else "bday"
        return Learner(
            given_names=self.text(kids, "givenNames") or "",
            family_name=self.text(kids, "familyName") or "",
            birth_date=self.date_value(kids, birth_date_tag, "learner"),
            citizenship=self.text(kids, "citizenship"),
            identifiers=self.identifiers(kids),
            gender=self.text(kids, "gender"),
            place_of_birth=self.text(kids, "placeOfBirth"),
            birth_name=self.text(kids, "birthName"),
        )

    # -- reports -----------------------------------------------------------------------------
    def issuer(self, report: Kids) -> Issuer:
        element = self.child(report, "issuer")
        if element is None:
            self.notice("VALUE_MISSING", "a report has no issuer")
        kids = self.kids(element)
        return Issuer(
            identifiers=self.identifiers(kids),
            titles=self.localized(kids, "title"),
            country=self.text(kids, "country"),
            url=self.text(kids, "url"),
        )

    def grading_schemes(self, report: Kids) -> tuple[GradingScheme, ...]:
        return tuple(
            GradingScheme(local_id=e.get("localId", ""), descriptions=self.localized(self.kids(e), "description"))
            for e in self.children(report, "gradingScheme")
        )

    def report(self, element: etree._Element) -> Report:
        kids = self.kids(element)
        schemes = self.grading_schemes(kids)
        by_id = {scheme.local_id: scheme.descriptions for scheme in schemes}
        return Report(
            issuer=self.issuer(kids),
            issue_date=self.datetime_value(kids, "issueDate", "report"),
            learning_opportunities=tuple(
                self.los(e, by_id) for e in self.children(kids, "learningOpportunitySpecification")
            ),
            grading_schemes=schemes,
            attachments=tuple(self.attachment(e) for e in self.children(kids, "attachment")),
        )

    # -- learning opportunities --------------------------------------------------------------
    def los(self, element: etree._Element, schemes: dict[str, tuple[LocalizedText, ...]]) -> LearningOpportunity:
        kids = self.kids(element)
        loi = self.child(self.kids(self.child(kids, "specifies")), "learningOpportunityInstance")
        parts = tuple(
            self.los(child, schemes)
            for has_part in self.children(kids, "hasPart")
            for child in self.children(self.kids(has_part), "learningOpportunitySpecification")
        )
        return LearningOpportunity(
            identifiers=self.identifiers(kids),
            titles=self.localized(kids, "title"),
            type=self.text(kids, "type"),
            subject_area=self.text(kids, "subjectArea"),
            isced_code=self.text(kids, "iscedCode"),
            url=self.text(kids, "url"),
            descriptions=self.localized(kids, "description"),
            descriptions_html=self.descriptions_html(kids),
            instance=self.instance(loi, schemes) if loi is not None else None,
            parts=parts,
        )

    def descriptions_html(self, kids: Kids) -> tuple[LocalizedText, ...]:
        items = self.localized(kids, "descriptionHtml")
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
        kids = self.kids(element)
        status = self.text(kids, "status")
        scheme_id = self.text(kids, "gradingSchemeLocalId")
        term = self.child(kids, "academicTerm")
        return Instance(
            identifiers=self.identifiers(kids),
            start=self.date_value(kids, "start", where),
            completion_date=self.date_value(kids, "date", where),
            status=status if status is not None else PASSED,
            status_declared=status is not None,
            result_label=self.text(kids, "resultLabel"),
            grading_scheme_local_id=scheme_id,
            grading_scheme=schemes.get(scheme_id, ()) if scheme_id is not None else (),
            credits=tuple(self.credit(e) for e in self.children(kids, "credit")),
            levels=tuple(self.level(e) for e in self.children(kids, "level")),
            language_of_instruction=self.text(kids, "languageOfInstruction"),
            engagement_hours=self.decimal_value(kids, "engagementHours", where),
            academic_term=self.academic_term(term) if term is not None else None,
            groupings=tuple(
                Grouping(typeref=e.get("typeref", ""), idref=e.get("idref", ""))
                for e in self.children(kids, "grouping")
            ),
            attachment_refs=tuple(
                ref
                for refs in self.children(kids, "attachments")
                for ref in (self.text_of(e) for e in self.children(self.kids(refs), "ref"))
                if ref is not None
            ),
            has_diploma_supplement="diplomaSupplement" in kids,
        )

    def credit(self, element: etree._Element) -> Credit:
        kids = self.kids(element)
        return Credit(
            scheme=self.text(kids, "scheme") or "",
            value=self.decimal_value(kids, "value", "credit"),
            level=self.text(kids, "level"),
        )

    def level(self, element: etree._Element) -> Level:
        kids = self.kids(element)
        return Level(
            type=self.text(kids, "type") or "",
            value=self.text(kids, "value"),
            description=self.text(kids, "description"),
        )

    def academic_term(self, element: etree._Element) -> AcademicTerm:
        kids = self.kids(element)
        return AcademicTerm(
            titles=self.localized(kids, "title"),
            start=self.date_value(kids, "start", "academicTerm"),
            end=self.date_value(kids, "end", "academicTerm"),
        )

    # -- attachments and groups --------------------------------------------------------------
    def attachment(self, element: etree._Element) -> Attachment:
        kids = self.kids(element)
        contents = []
        for content in self.children(kids, "content"):
            decoded = self.content(content)
            if decoded is not None:
                contents.append(decoded)
        return Attachment(
            identifiers=self.identifiers(kids),
            titles=self.localized(kids, "title"),
            type=self.text(kids, "type"),
            descriptions=self.localized(kids, "description"),
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

    def group_types(self, root: Kids) -> tuple[GroupType, ...]:
        return tuple(
            GroupType(
                id=element.get("id", ""),
                titles=self.localized(self.kids(element), "title"),
                groups=tuple(
                    Group(
                        id=g.get("id", ""),
                        sorting_key=g.get("sortingKey"),
                        titles=self.localized(self.kids(g), "title"),
                    )
                    for g in self.children(self.kids(element), "group")
                ),
            )
            for groups in self.children(root, "groups")
            for element in self.children(self.kids(groups), "groupType")
        )


def read_elmo(root: etree._Element) -> ElmoDocument:
    """Read a (verified) ``elmo`` root element into an :class:`ElmoDocument`.

    Raises only what :func:`detect_version` raises (NOT_ELMO, UNSUPPORTED_FORMAT); everything odd
    inside a supported document is recorded as a notice.
    """
    version = detect_version(root)
    reader = _Reader(namespace_for(version))
    kids = reader.kids(root)
    reports = tuple(reader.report(e) for e in reader.children(kids, "report"))
    if not reports:
        reader.notice("VALUE_MISSING", "the document has no report")
    return ElmoDocument(
        version=version,
        namespace=reader.ns,
        generated_date=reader.datetime_value(kids, "generatedDate", "elmo"),
        learner=reader.learner(kids),
        reports=reports,
        attachments=tuple(reader.attachment(e) for e in reader.children(kids, "attachment")),
        group_types=reader.group_types(kids),
        notices=reader.notices(),
    )
