"""Step 2 of the trust pipeline: a hardened XML parser for untrusted documents.

No DTD is loaded, no entity is resolved, nothing is fetched from the network and libxml2's huge-tree
mode stays off. Any DOCTYPE (and so any entity declaration) is refused outright. Comments are kept:
they take part in canonicalization "with comments". lxml parsers are not thread-safe, so each thread
gets its own parser per encoding override.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.policy import XmlLimits
from emrex_emc.core.text import clip

# Atomic groups: each prolog item is matched once, so a failed match never rescans the document.
_PROLOG_DOCTYPE = re.compile(rb"\A(?:\xef\xbb\xbf)?(?>\s+|<\?.*?\?>|<!--.*?-->)*<!DOCTYPE", re.DOTALL)
_ENCODING_ERRORS = frozenset(
    {
        etree.ErrorTypes.ERR_INVALID_ENCODING,
        etree.ErrorTypes.ERR_INVALID_CHAR,
        etree.ErrorTypes.ERR_UNSUPPORTED_ENCODING,
        etree.ErrorTypes.ERR_UNKNOWN_ENCODING,
    }
)
_COUNT_ELEMENTS = etree.XPath("count(//*)")
_local = threading.local()


def make_parser(encoding: str | None = None) -> etree.XMLParser:
    """A new hardened parser (prefer :func:`parse_xml`, which reuses one per thread)."""
    return etree.XMLParser(
        encoding=encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
    )


def thread_parser(encoding: str | None = None) -> etree.XMLParser:
    """The calling thread's hardened parser for ``encoding`` (created on first use)."""
    parsers: dict[str | None, etree.XMLParser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = {}
        _local.parsers = parsers
    parser = parsers.get(encoding)
    if parser is None:
        parser = parsers[encoding] = make_parser(encoding)
    return parser


def parse_xml(data: bytes, limits: XmlLimits, *, encoding: str | None = None) -> etree._Element:
    """Parse untrusted bytes into a tree or raise :class:`EmrexError` saying why not.

    ``encoding`` overrides the document's own declaration (used for the Latin-1 retry).
    """
    if _PROLOG_DOCTYPE.match(data):
        raise _forbidden()
    try:
        root = etree.fromstring(data, parser=thread_parser(encoding))
    except etree.XMLSyntaxError as exc:
        raise _classify(exc) from exc
    docinfo = root.getroottree().docinfo
    # lxml-stubs lack DocInfo.doctype (lxml has it): getattr keeps mypy quiet without an ignore
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _forbidden()
    _check_complexity(root, limits)
    return root


def _check_complexity(root: etree._Element, limits: XmlLimits) -> None:
    # Both checks run in libxml2: an element below max_depth exists iff this path matches.
    if root.xpath("boolean(/*" + "/*" * limits.max_depth + ")"):
        raise EmrexError(ErrorCode.XML_TOO_COMPLEX, f"the document is nested deeper than {limits.max_depth} levels")
    count = int(_COUNT_ELEMENTS(root))  # type: ignore[arg-type]
    if count > limits.max_elements:
        raise EmrexError(
            ErrorCode.XML_TOO_COMPLEX,
            f"the document has {count} elements, the limit is {limits.max_elements}",
        )


def _classify(exc: etree.XMLSyntaxError) -> EmrexError:
    where = f"line {exc.lineno}, column {exc.offset}" if exc.lineno else "unknown position"
    code: int = getattr(exc, "code", 0)  # lxml-stubs lack XMLSyntaxError.code
    if code in _ENCODING_ERRORS:
        return EmrexError(ErrorCode.ENCODING_INVALID, f"the document's bytes do not match its encoding ({where})")
    if code == etree.ErrorTypes.ERR_RESOURCE_LIMIT:
        return EmrexError(ErrorCode.XML_TOO_COMPLEX, f"the document exceeds a parser limit: {clip(exc.msg, 300)}")
    if code == etree.ErrorTypes.ERR_UNDECLARED_ENTITY:
        return EmrexError(ErrorCode.XML_FORBIDDEN_CONSTRUCT, f"the document uses an entity reference ({where})")
    return EmrexError(ErrorCode.XML_MALFORMED, f"the document is not well-formed XML: {clip(exc.msg, 300)}")


def _forbidden() -> EmrexError:
    return EmrexError(
        ErrorCode.XML_FORBIDDEN_CONSTRUCT, "the document contains a DOCTYPE (DTDs and entity declarations are refused)"
    )
