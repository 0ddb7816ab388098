from __future__ import annotations

import threading

import pytest
from lxml import etree

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.policy import XmlLimits
from emrex_emc.core.xmlsafe import parse_xml, thread_parser

LIMITS = XmlLimits()


def refused(data: bytes, limits: XmlLimits = LIMITS) -> ErrorCode:
    with pytest.raises(EmrexError) as info:
        parse_xml(data, limits)
    return info.value.code


def test_parses_and_keeps_comments() -> None:
    root = parse_xml(b"<?xml version='1.0'?><elmo><!-- kept --><a>x</a></elmo>", LIMITS)
    assert root.tag == "elmo"
    assert isinstance(root[0], etree._Comment)


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE elmo SYSTEM "http://attacker.example/x.dtd"><elmo/>',
        b'<?xml version="1.0"?>\n<!-- c --><!DOCTYPE elmo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><elmo>&xxe;</elmo>',
        b'<!DOCTYPE elmo [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><elmo>&c;</elmo>',
    ],
    ids=["external-dtd", "xxe", "billion-laughs"],
)
def test_doctypes_and_entities_are_refused(document: bytes) -> None:
    assert refused(document) is ErrorCode.XML_FORBIDDEN_CONSTRUCT


def test_doctype_is_refused_even_when_the_prefilter_cannot_see_it() -> None:
    document = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE elmo [<!ENTITY x "y">]><elmo>&x;</elmo>'
    assert refused(document.encode("utf-16")) is ErrorCode.XML_FORBIDDEN_CONSTRUCT


def test_undeclared_entity_reference_is_refused() -> None:
    assert refused(b"<elmo>&nbsp;</elmo>") is ErrorCode.XML_FORBIDDEN_CONSTRUCT


def test_doctype_text_inside_cdata_is_not_a_doctype() -> None:
    root = parse_xml(b"<elmo><d><![CDATA[<!DOCTYPE html><p>x</p>]]></d></elmo>", LIMITS)
    assert root[0].text == "<!DOCTYPE html><p>x</p>"


def test_depth_cap() -> None:
    limits = XmlLimits(max_depth=5)
    assert parse_xml(b"<a><b><c><d><e/></d></c></b></a>", limits).tag == "a"
    assert refused(b"<a><b><c><d><e><f/></e></d></c></b></a>", limits) is ErrorCode.XML_TOO_COMPLEX


def test_libxml2_depth_limit_is_reported_as_too_complex() -> None:
    assert refused(b"<a>" * 300 + b"</a>" * 300, XmlLimits(max_depth=1000)) is ErrorCode.XML_TOO_COMPLEX


def test_element_count_cap() -> None:
    limits = XmlLimits(max_elements=10)
    assert parse_xml(b"<a>" + b"<b/>" * 9 + b"</a>", limits).tag == "a"
    assert refused(b"<a>" + b"<b/>" * 10 + b"</a>", limits) is ErrorCode.XML_TOO_COMPLEX


@pytest.mark.parametrize("document", [b"<elmo><a></elmo>", b"not xml", b"<elmo/><elmo/>"])
def test_malformed(document: bytes) -> None:
    assert refused(document) is ErrorCode.XML_MALFORMED


def test_latin1_bytes_declared_utf8_are_an_encoding_error_and_can_be_reread() -> None:
    document = '<?xml version="1.0" encoding="UTF-8"?><elmo>Søren Ærø</elmo>'.encode("latin-1")
    assert refused(document) is ErrorCode.ENCODING_INVALID
    assert parse_xml(document, LIMITS, encoding="ISO-8859-1").text == "Søren Ærø"


def test_each_thread_has_its_own_parser() -> None:
    seen: list[etree.XMLParser] = []
    worker = threading.Thread(target=lambda: seen.append(thread_parser()))
    worker.start()
    worker.join()
    assert seen[0] is not thread_parser()
    assert thread_parser() is thread_parser()
