"""ELMO namespaces and version detection."""

from __future__ import annotations

from lxml import etree

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.text import clip

NAMESPACE_PREFIX = "https://github.com/emrex-eu/elmo-schemas/tree/"
NAMESPACES: dict[str, str] = {
    NAMESPACE_PREFIX + "v1": "v1",
    NAMESPACE_PREFIX + "v1.3.0": "v1.3.0",
    NAMESPACE_PREFIX + "v2": "v2",
}
"""Accepted ELMO namespaces and the version name each one maps to (``v1.3.0`` is the Croatian EMP's variant)."""

LEGACY_PURL_NAMESPACE = "http://purl.org/net/elmo"


def split_tag(tag: object) -> tuple[str | None, str]:
    """``{ns}local`` -> (ns, local); comments and processing instructions give (None, "")."""
    if not isinstance(tag, str):
        return None, ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def namespace_for(version: str) -> str:
    """The namespace URI of a version name returned by :func:`detect_version`."""
    for namespace, name in NAMESPACES.items():
        if name == version:
            return namespace
    raise ValueError(f"unknown ELMO version {version!r}")


def detect_version(root: etree._Element) -> str:
    """Return ``"v1"``, ``"v1.3.0"`` or ``"v2"`` for an ``elmo`` root element.

    Raises ``EmrexError(NOT_ELMO)`` when the root is not an ``elmo`` element and
    ``EmrexError(UNSUPPORTED_FORMAT)`` for any other namespace (including the pre-EMREX
    ``http://purl.org/net/elmo`` format and no namespace at all).
    """
    namespace, local = split_tag(root.tag)
    if local != "elmo":
        shown = clip(local, 100) or "a non-element node"
        raise EmrexError(ErrorCode.NOT_ELMO, f"the document's root element is <{shown}>, not <elmo>")
    version = NAMESPACES.get(namespace or "")
    if version is not None:
        return version
    supported = ", ".join(NAMESPACES)
    if namespace is None:
        described = "has no namespace"
    elif namespace == LEGACY_PURL_NAMESPACE:
        described = f"uses the pre-EMREX legacy namespace {namespace}"
    else:
        described = f"uses the namespace {clip(namespace, 150)}"
    raise EmrexError(
        ErrorCode.UNSUPPORTED_FORMAT,
        f"the <elmo> document {described}; supported ELMO namespaces are: {supported}",
    )
