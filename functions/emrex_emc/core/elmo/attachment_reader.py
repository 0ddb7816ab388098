"""Reading ``attachment`` elements: their descriptions and their decoded ``content`` (see :mod:`.attachments`)."""

from __future__ import annotations

from lxml import etree

from emrex_emc.core.elmo.attachments import AttachmentDecodeError, decode_content, mime_types_agree
from emrex_emc.core.elmo.elements import XML_LANG, Elements, identifiers, localized, text_of
from emrex_emc.core.elmo.model import Attachment, AttachmentContent
from emrex_emc.core.elmo.values import Notices
from emrex_emc.core.text import clip

_ATTACHMENT_TEXTS = frozenset({"type"})


class AttachmentReader:
    """Reads the attachments of one document; their contents are numbered in the order they are read."""

    def __init__(self, elements: Elements, notices: Notices) -> None:
        self._elements = elements
        self._notices = notices
        self._next_index = 0

    def attachment(self, element: etree._Element) -> Attachment:
        kids, texts = self._elements.scan(element, _ATTACHMENT_TEXTS)
        contents = []
        for content in kids.get("content", ()):
            decoded = self._content(content)
            if decoded is not None:
                contents.append(decoded)
        return Attachment(
            identifiers=identifiers(kids),
            titles=localized(kids, "title"),
            type=texts.get("type"),
            descriptions=localized(kids, "description"),
            contents=tuple(contents),
        )

    def _content(self, element: etree._Element) -> AttachmentContent | None:
        """A decoded ``content`` (its MIME type sniffed from the bytes); None, with a notice, if it cannot be."""
        raw = text_of(element)
        if raw is None:
            self._notices.add("ATTACHMENT_INVALID", "an attachment content is empty; it was left out")
            return None
        try:
            decoded = decode_content(raw)
        except AttachmentDecodeError as exc:
            self._notices.add("ATTACHMENT_INVALID", f"an attachment content was left out: {exc}")
            return None
        index = self._next_index
        self._next_index += 1
        sniffed = decoded.mime_type
        if decoded.encoding == "base64":
            self._notices.add("ATTACHMENT_BARE_BASE64", f"attachment content {index} is bare base64, not a data URI")
        if not mime_types_agree(decoded.declared_mime_type, sniffed):
            self._notices.add(
                "ATTACHMENT_MIME_MISMATCH",
                f"attachment content {index} is declared {clip(decoded.declared_mime_type)}"
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
