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
"""An element's ELMO children grouped by local name, in document order."""


def text_of(element: etree._Element) -> str | None:
    """All text inside the element (CDATA included, comments excluded), stripped; empty -> None."""
    # with children (or comments) gather all text below; a leaf's text already includes its CDATA
    text = "".join(cast(Iterator[str], element.itertext())) if len(element) else element.text
    if text:
        text = text.strip()
        if text:
            return text
    return None


def named(element: etree._Element, tag: str) -> list[etree._Element]:
    """The element's children with this exact ``{namespace}local`` tag (cheaper than grouping all children)."""
    return [node for node in element if node.tag == tag]


class _LocalNames(dict[object, str | None]):
    """``{namespace}local`` tag -> ``local`` for ELMO elements, None for anything else; computed once per tag.

    Keys are tags as lxml gives them: strings, or the ``Comment``/``ProcessingInstruction`` factories.
    """

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def __missing__(self, tag: object) -> str | None:
        local = tag[len(self.prefix) :] if isinstance(tag, str) and tag.startswith(self.prefix) else None
        self[tag] = local
        return local


class _Reader:
    def __init__(self, namespace: str) -> None:
        self.ns = namespace
        self.prefix = f"{{{namespace}}}"
        self._local_names = _LocalNames(self.prefix)
        self._los_tag = self.prefix + "learningOpportunitySpecification"
        self._loi_tag = self.prefix + "learningOpportunityInstance"
        self._notices: dict[tuple[str, str], Notice] = {}
        self._per_code: dict[str, int] = {}
        self._content_index = 0
        self._dates: dict[str, date] = {}
        """Valid date texts already parsed (a transcript repeats the same few dates)."""

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
        local_names = self._local_names
        for node in element:
            name = local_names[node.tag]
            if name is not None:
                same = grouped.get(name)
                if same is None:
                    grouped[name] = [node]
                else:
                    same.append(node)
        return grouped

    @staticmethod
    def text(kids: Kids, name: str) -> str | None:
        """The text of the first ``name`` child, as :func:`text_of` (inlined: ~10 calls per course)."""
        found = kids.get(name)
        if not found:
            return None
        element = found[0]
        text = "".join(cast(Iterator[str], element.itertext())) if len(element) else element.text
        if text:
            text = text.strip()
            if text:
                return text
        return None

    @staticmethod
    def localized(kids: Kids, name: str) -> tuple[LocalizedText, ...]:
        found = kids.get(name)
        if not found:
            return ()
        items = []
        for element in found:
            value = text_of(element)
            if value is not None:
                items.append(LocalizedText(value, element.get(XML_LANG)))
        return tuple(items)

    @staticmethod
    def identifiers(kids: Kids) -> tuple[Identifier, ...]:
        found = kids.get("identifier")
        if not found:
            return ()
        items = []
        for element in found:
            value = text_of(element)
            if value is not None:
                items.append(Identifier(value, element.get("type")))
        return tuple(items)

    # -- values ------------------------------------------------------------------------------
    def date_value(self, kids: Kids, name: str, where: str) -> date | None:
        raw = self.text(kids, name)
        if raw is None:
            return None
        known = self._dates.get(raw)
        return known if known is not None else self.parse_date(raw, name, where)

    def parse_date(self, raw: str, name: str, where: str) -> date | None:
        """An xs:date; a timezone or time part is stripped (``2009-09-25+02:00`` -> 2009-09-25)."""
        match = _DATE_PREFIX.match(raw)
        if match:
            try:
                parsed = self._dates[raw] = date.fromisoformat(match.group(1))
                return parsed
            except ValueError:
                pass
        self.notice("VALUE_INVALID", f"{where}/{name} is not a valid date; it was left out")
        return None

    def datetime_value(self, kids: Kids, name: str, where: str) -> datetime | date | None:
        raw = self.text(kids, name)
        if raw is None:
            return None
        try:
            return datetime.fromisoformat(raw) if "T" in raw else date.fromisoformat(raw)
        except ValueError:
            pass
        parsed = self.parse_date(raw, name, where)
        if parsed is not None:
            self.notice("VALUE_INVALID", f"{where}/{name} is not a valid date-time; only its date was kept")
        return parsed

    def decimal_value(self, kids: Kids, name: str, where: str) -> Decimal | None:
        """A decimal written with ``.`` or ``,`` (``7,5`` -> 7.5)."""
        raw = self.text(kids, name)
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
        element = self.kids_first(root, "learner")
        if element is None:  # pre-1.0 documents put the learner inside the report
            in_reports = (e for r in root.get("report", ()) for e in self.kids(r).get("learner", ()))
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

    @staticmethod
    def kids_first(kids: Kids, name: str) -> etree._Element | None:
        found = kids.get(name)
        return found[0] if found else None

    # -- reports -----------------------------------------------------------------------------
    def issuer(self, report: Kids) -> Issuer:
        element = self.kids_first(report, "issuer")
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
            for e in report.get("gradingScheme", ())
        )

    def report(self, element: etree._Element) -> Report:
        kids = self.kids(element)
        schemes = self.grading_schemes(kids)
        by_id = {scheme.local_id: scheme.descriptions for scheme in schemes}
        return Report(
            issuer=self.issuer(kids),
            issue_date=self.datetime_value(kids, "issueDate", "report"),
            learning_opportunities=tuple(
                [self.los(e, by_id) for e in kids.get("learningOpportunitySpecification", ())]
            ),
            grading_schemes=schemes,
            attachments=tuple([self.attachment(e) for e in kids.get("attachment", ())]),
        )

    # -- learning opportunities (the hot path: one LOS and one instance per course) ---------------
    def los(self, element: etree._Element, schemes: dict[str, tuple[LocalizedText, ...]]) -> LearningOpportunity:
        kids = self.kids(element)
        has_parts = kids.get("hasPart")
        parts = (
            tuple([self.los(child, schemes) for part in has_parts for child in named(part, self._los_tag)])
            if has_parts
            else ()
        )
        specifies = kids.get("specifies")
        instances = named(specifies[0], self._loi_tag) if specifies else None
        text, localized = self.text, self.localized
        return LearningOpportunity(
            identifiers=self.identifiers(kids),
            titles=localized(kids, "title"),
            type=text(kids, "type"),
            subject_area=text(kids, "subjectArea"),
            isced_code=text(kids, "iscedCode"),
            url=text(kids, "url"),
            descriptions=localized(kids, "description"),
            descriptions_html=self.descriptions_html(kids),
            instance=self.instance(instances[0], schemes) if instances else None,
            parts=parts,
        )

    def descriptions_html(self, kids: Kids) -> tuple[LocalizedText, ...]:
        items = self.localized(kids, "descriptionHtml") if "descriptionHtml" in kids else ()
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
        get, text, date_value = kids.get, self.text, self.date_value
        status = text(kids, "status")
        scheme_id = text(kids, "gradingSchemeLocalId")
        credits = get("credit")
        levels = get("level")
        terms = get("academicTerm")
        groupings = get("grouping")
        ref_lists = get("attachments")
        return Instance(
            identifiers=self.identifiers(kids),
            start=date_value(kids, "start", where),
            completion_date=date_value(kids, "date", where),
            status=status if status is not None else PASSED,
            status_declared=status is not None,
            result_label=text(kids, "resultLabel"),
            grading_scheme_local_id=scheme_id,
            grading_scheme=schemes.get(scheme_id, ()) if scheme_id is not None else (),
            credits=tuple([self.credit(e) for e in credits]) if credits else (),
            levels=tuple([self.level(e) for e in levels]) if levels else (),
            language_of_instruction=text(kids, "languageOfInstruction"),
            engagement_hours=self.decimal_value(kids, "engagementHours", where) if "engagementHours" in kids else None,
            academic_term=self.academic_term(terms[0]) if terms else None,
            groupings=tuple([Grouping(typeref=e.get("typeref", ""), idref=e.get("idref", "")) for e in groupings])
            if groupings
            else (),
            attachment_refs=self.attachment_refs(ref_lists) if ref_lists else (),
            has_diploma_supplement="diplomaSupplement" in kids,
        )

    def attachment_refs(self, ref_lists: list[etree._Element]) -> tuple[str, ...]:
        ref_tag = self.prefix + "ref"
        texts = (text_of(ref) for refs in ref_lists for ref in named(refs, ref_tag))
        return tuple([ref for ref in texts if ref is not None])

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
        for content in kids.get("content", ()):
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
        raw = text_of(element)
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
                titles=self.localized(kids, "title"),
                groups=tuple(
                    Group(
                        id=g.get("id", ""),
                        sorting_key=g.get("sortingKey"),
                        titles=self.localized(self.kids(g), "title"),
                    )
                    for g in kids.get("group", ())
                ),
            )
            for groups in root.get("groups", ())
            for element in self.kids(groups).get("groupType", ())
            for kids in (self.kids(element),)
        )


def read_elmo(root: etree._Element) -> ElmoDocument:
    """Read a (verified) ``elmo`` root element into an :class:`ElmoDocument`.

    Raises only what :func:`detect_version` raises (NOT_ELMO, UNSUPPORTED_FORMAT); everything odd
    inside a supported document is recorded as a notice.
    """
    version = detect_version(root)
    reader = _Reader(namespace_for(version))
    kids = reader.kids(root)
    reports = tuple([reader.report(e) for e in kids.get("report", ())])
    if not reports:
        reader.notice("VALUE_MISSING", "the document has no report")
    return ElmoDocument(
        version=version,
        namespace=reader.ns,
        generated_date=reader.datetime_value(kids, "generatedDate", "elmo"),
        learner=reader.learner(kids),
        reports=reports,
        attachments=tuple([reader.attachment(e) for e in kids.get("attachment", ())]),
        group_types=reader.group_types(kids),
        notices=reader.notices(),
    )
