"""Sanitizing untrusted ``descriptionHtml`` with nh3 (imported lazily: most documents have none)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "b", "strong", "i", "em", "u", "s", "small", "sub", "sup", "code", "pre", "blockquote",
        "ul", "ol", "li", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "span", "div",
        "table", "thead", "tbody", "tr", "th", "td", "a",
    }
)  # fmt: skip
"""Harmless formatting only: no scripts, styles, forms, images, frames or media."""
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
ALLOWED_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
_LINK_REL = "noopener noreferrer nofollow"


class _Inventory(HTMLParser):
    """Collects every tag, attribute and URL scheme the input uses (to tell what sanitizing removed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.schemes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            scheme = urlsplit((value or "").strip()).scheme.lower()
            if scheme and scheme.isascii() and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
                self.schemes.add(scheme)

    handle_startendtag = handle_starttag


def sanitize_html(html: str) -> tuple[str, bool]:
    """Return ``(safe_html, something_was_removed)``.

    Only :data:`ALLOWED_TAGS` survive; ``script``/``style`` content is dropped, event handlers and
    other attributes are stripped, and links keep only http(s)/mailto URLs. Removal is detected by
    comparing with a permissive pass of the same sanitizer that keeps everything the input uses, so
    nh3's harmless re-serialization (entities, quoting) does not count as a removal.
    """
    import nh3

    safe = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel=_LINK_REL,
    )
    inventory = _Inventory()
    inventory.feed(html)
    inventory.close()
    permissive = nh3.clean(
        html,
        tags=inventory.tags | set(ALLOWED_TAGS),
        clean_content_tags=set(),
        attributes={"*": inventory.attributes - {"rel"}, **{"a": {"href", "title"}}},
        url_schemes=inventory.schemes | set(ALLOWED_URL_SCHEMES),
        link_rel=_LINK_REL,
    )
    return safe, safe != permissive
