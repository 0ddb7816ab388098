from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from emrex_emc.core.elmo.reader import read_elmo
from emrex_emc.core.elmo.sanitize import sanitize_html


@pytest.mark.parametrize(
    ("html", "forbidden"),
    [
        ("<p>Hi<script>alert(1)</script></p>", "script"),
        ("<p>Hi<script>alert(1)</script></p>", "alert"),
        ('<p onclick="steal()">Hi</p>', "onclick"),
        ('<a href="javascript:alert(1)">x</a>', "javascript"),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', "alert"),
        ('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', "data:"),
        ("<img src=x onerror=alert(1)>", "onerror"),
        ("<style>body{display:none}</style>ok", "display"),
        ('<iframe src="https://evil.example"></iframe>ok', "iframe"),
        ('<p style="background:url(javascript:x)">ok</p>', "style"),
        ('<form action="https://evil.example"><input name=p></form>', "form"),
    ],
)
def test_dangerous_html_is_removed(html: str, forbidden: str) -> None:
    safe, removed = sanitize_html(html)
    assert forbidden not in safe.lower()
    assert removed


@pytest.mark.parametrize(
    "html",
    [
        "<p>While the regular <code>&lt;description&gt;</code> elements don&apos;t allow HTML</p>",
        "<ul><li><b>bold</b> and <em>em</em></li></ul><br>",
        '<a href="https://example.org/x?a=1&amp;b=2" title="t">link</a>',
        "plain text & more",
    ],
)
def test_harmless_html_is_kept_without_notice(html: str) -> None:
    safe, removed = sanitize_html(html)
    assert not removed
    assert safe.replace("&amp;", "&").replace("'", "&apos;")[:20] == html.replace("&amp;", "&")[:20]


def test_links_keep_href_and_get_rel() -> None:
    safe, _ = sanitize_html('<a href="https://example.org">x</a>')
    assert 'href="https://example.org"' in safe
    assert 'rel="noopener noreferrer nofollow"' in safe


def test_reader_sanitizes_description_html_and_records_notice(build: Callable[..., etree._Element]) -> None:
    html = escape('<p onclick="x()">Intro</p><script>steal()</script><a href="javascript:go()">more</a>')
    body = (
        "<learningOpportunitySpecification><title>C</title>"
        f"<descriptionHtml xml:lang='en'>{html}</descriptionHtml>"
        "<descriptionHtml xml:lang='fi'>&lt;p&gt;ok&lt;/p&gt;</descriptionHtml>"
        "<specifies><learningOpportunityInstance/></specifies></learningOpportunitySpecification>"
    )
    document = read_elmo(build(body))
    en, fi = document.reports[0].learning_opportunities[0].descriptions_html
    assert en.lang == "en"
    assert "<p>Intro</p>" in en.value
    for forbidden in ("onclick", "script", "steal", "javascript"):
        assert forbidden not in en.value
    assert fi.value == "<p>ok</p>"
    assert [n.code for n in document.notices] == ["HTML_SANITIZED"]


def test_plain_description_is_not_treated_as_html(build: Callable[..., etree._Element]) -> None:
    body = (
        "<learningOpportunitySpecification><title>C</title><description>a &lt;b&gt; c</description>"
        "<specifies><learningOpportunityInstance/></specifies></learningOpportunitySpecification>"
    )
    document = read_elmo(build(body))
    assert document.reports[0].learning_opportunities[0].descriptions[0].value == "a <b> c"
    assert document.notices == ()
