"""XSD conformance of an ELMO document, reported as warnings (never a rejection).

Real signed documents often violate the XSD; the signature is the integrity check. The official
schemas import remote ``schemaLocation`` URLs; an lxml :class:`~lxml.etree.Resolver` driven by
``offline-import-map.json`` maps them to local files, and the parser never touches the network.
Compiled schemas are cached per process (compiling takes a while).

ELMO 2.0 and 2.1.1 share the ``…/tree/v2`` namespace: a v2 document is conformant when it fits either
schema, and otherwise gets the violations of the one it fits better (fewer violations; 2.1.1 on a tie).

The tree that is validated is the verified one (signxml's re-parse of the canonical form), whose own line
numbers count the lines of that form: it lost the XML declaration, the line breaks between attributes
and the comments. Each violation is therefore located by its element, and reported with the line of
the same element in the document as received.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from emrex_emc.core.elmo.versions import NAMESPACES, namespace_for, split_tag
from emrex_emc.core.errors import Notice
from emrex_emc.core.text import clip

SCHEMA_FILES: dict[str, str] = {
    "v1": "elmo-schemas/v1.7.0/schema.xsd",
    "v1.3.0": "elmo-schemas/v1.3.0/schema.xsd",
    "v2": "elmo-schemas/v2-namespace-65e55f6/schema.xsd",
}
LATER_SCHEMA_FILES: dict[str, tuple[str, ...]] = {"v2": ("elmo-schemas/v2.1.1/schema.xsd",)}
"""Later releases in the same namespace, newest first: fitting any one of them is enough."""
IMPORT_MAP = "offline-import-map.json"
MAX_VIOLATIONS = 20
MAX_VIOLATION_CHARS = 300
_ENVELOPED_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"
_PATH_PREFIX = re.compile(r"(?:^|/)@?([^/:\[\]@*()]+):")
_SUFFIX_RULES = (
    ("references/xmldsig-core-schema.xsd", "elmo-schemas/references/xmldsig-core-schema.xsd"),
    ("references/EUROPASS_ISOCountries_V1.1.xsd", "elmo-schemas/references/EUROPASS_ISOCountries_V1.1.xsd"),
    # ELMO 2.1.1 (as the EWP registry service vendors it) imports these relative to its own folder
    ("/xml.xsd", "w3c/xml.xsd"),
    ("/ewp-specs-types-address-v1.0.1/schema.xsd", "ewp/ewp-specs-types-address/schema.xsd"),
)
_QUOTED_VALUES = (
    (re.compile(r"The value '[^']*' is not"), "The value is not"),
    (re.compile(r": '[^']*' is not"), ": the value is not"),
)
"""Values quoted in libxml2 messages may be personal data (a birth date, a name): they are redacted."""


class _OfflineResolver(etree.Resolver):
    """Resolves schema imports to files inside ``base`` only; anything unknown resolves to nothing."""

    def __init__(self, base: Path, mapping: dict[str, str]) -> None:
        super().__init__()
        self.base = base.resolve()
        self.mapping = mapping
        self.relative_keys = [
            ("/" + key.lstrip("./"), target) for key, target in mapping.items() if key.startswith(("../", "./"))
        ]

    def local_path(self, url: str) -> Path | None:
        relative = self.mapping.get(url)
        if relative is None:  # a relative key ("../xml.xsd") reaches us resolved against the importing file
            relative = next((target for suffix, target in self.relative_keys if url.endswith(suffix)), None)
        if relative is None:
            relative = next((target for suffix, target in _SUFFIX_RULES if url.endswith(suffix)), None)
        if relative is not None:
            candidate = (self.base / relative).resolve()
        elif "://" not in url or url.startswith("file://"):
            candidate = Path(url.removeprefix("file://")).resolve()
        else:
            return None
        return candidate if candidate.is_relative_to(self.base) and candidate.is_file() else None

    def resolve(self, system_url: str, public_id: str, context: object) -> Any:  # type: ignore[override]
        path = self.local_path(system_url)
        if path is None:
            return self.resolve_string("", context)  # type: ignore[call-arg]
        return self.resolve_filename(str(path), context)  # type: ignore[attr-defined]


def _import_map(base: Path) -> dict[str, str]:
    """The URL -> local file map of ``base``; raises OSError or ValueError when it is missing or malformed."""
    mapping = json.loads((base / IMPORT_MAP).read_text(encoding="utf-8"))
    if not isinstance(mapping, dict) or not all(isinstance(value, str) for value in mapping.values()):
        raise ValueError(f"{IMPORT_MAP} is not a JSON object of URL -> file")
    return {url: target for url, target in mapping.items() if not url.startswith("_")}


def missing_schema_files(xsd_dir: str) -> list[str]:
    """The files :func:`check_conformance` needs that ``xsd_dir`` lacks (empty when it has them all).

    Needed: the import map, the ELMO schema of every supported version, and every local file the map and
    the suffix rules point to.
    """
    base = Path(xsd_dir)
    try:
        targets = set(_import_map(base).values())
    except (OSError, ValueError):
        return [IMPORT_MAP]
    schemas = [*SCHEMA_FILES.values(), *(file for files in LATER_SCHEMA_FILES.values() for file in files)]
    needed = [*schemas, *sorted(targets | {target for _, target in _SUFFIX_RULES})]
    return [relative for relative in needed if not (base / relative).is_file()]


@lru_cache(maxsize=8)
def _compiled_schema(xsd_dir: str, schema_file: str) -> etree.XMLSchema:
    base = Path(xsd_dir)
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_OfflineResolver(base, _import_map(base)))
    document = etree.parse(str(base / schema_file), parser)
    return etree.XMLSchema(document)


def _as_namespace(root: etree._Element, source: str, target: str) -> etree._Element:
    """A copy of the tree with ``source`` namespace elements moved to ``target``."""
    clone = copy.deepcopy(root)
    for element in clone.iter():
        namespace, local = split_tag(element.tag)
        if namespace == source:
            element.tag = f"{{{target}}}{local}"
    etree.cleanup_namespaces(clone)
    return clone


def _message(error: Any, line: int | None) -> str:
    text = str(error.message)
    for pattern, replacement in _QUOTED_VALUES:
        text = pattern.sub(replacement, text)
    for namespace in NAMESPACES:
        text = text.replace(f"{{{namespace}}}", "")
    text = clip(text, MAX_VIOLATION_CHARS)  # element names and namespaces come from the document
    return text if line is None else f"line {line}: {text}"


def _elements(root: etree._Element, skipped: etree._Element | None = None) -> Iterator[etree._Element]:
    """The elements below and including ``root`` in document order, without ``skipped`` and its subtree."""
    iterator = root.iter(etree.Element)
    for element in iterator:
        if element is skipped:
            for _ in range(sum(1 for _ in element.iter(etree.Element)) - 1):
                next(iterator)
            continue
        yield element


def _lines_as_received(
    validated: etree._Element,
    received: etree._Element,
    removed: etree._Element | None,
    wanted: list[etree._Element | None],
) -> dict[etree._Element, int | None]:
    """The line in ``received`` of each ``wanted`` element of ``validated``.

    ``validated`` holds the elements of ``received`` in the same order, minus ``removed`` (the enveloped
    Signature); an element may have moved to another namespace, never changed its local name. The walk
    stops after the last wanted element, or where the two trees differ.
    """
    pending = {element for element in wanted if element is not None}
    lines: dict[etree._Element, int | None] = {}
    for ours, theirs in zip(_elements(validated), _elements(received, removed), strict=False):
        if not pending:
            break
        if split_tag(ours.tag)[1] != split_tag(theirs.tag)[1]:
            break
        if ours in pending:
            pending.discard(ours)
            line = theirs.sourceline
            lines[ours] = line if isinstance(line, int) else None
    return lines


def _violating_elements(root: etree._Element, errors: list[Any]) -> list[etree._Element | None]:
    """The element each error is about, found by the XPath libxml2 gives it (``/ns0:elmo/ns0:report[2]/@x``)."""
    prefixes = {prefix for error in errors for prefix in _PATH_PREFIX.findall(error.path or "")} - {"xml"}
    namespaces: dict[str, str] = {}
    if prefixes:  # the prefixes are the document's own: bind each as it is first declared
        for element in root.iter(etree.Element):
            if element.prefix in prefixes:
                namespaces.setdefault(element.prefix, etree.QName(element).namespace or "")
    tree = root.getroottree()
    return [_node_at(tree, error.path, namespaces) for error in errors]


def _node_at(tree: etree._ElementTree, path: str | None, namespaces: dict[str, str]) -> etree._Element | None:
    try:
        found = tree.xpath(path, namespaces=namespaces) if path else None
    except etree.XPathError:
        return None
    if not isinstance(found, list) or not found:
        return None
    node = found[0]
    if isinstance(node, etree._Element):
        return node
    if not isinstance(node, etree._ElementUnicodeResult):  # a number or a boolean: no element
        return None
    parent = node.getparent()  # an attribute's or a text's element
    return parent if isinstance(parent, etree._Element) else None


def check_conformance(
    root: etree._Element, version: str, xsd_dir: str | None, received: etree._Element | None = None
) -> list[Notice]:
    """Validate ``root`` against the official XSD of ``version``; violations become XSD_VIOLATION notices.

    ``received``: the document as it was received, when ``root`` is the verified tree made from it; the
    line numbers of the notices point into it (default: into ``root``). At most :data:`MAX_VIOLATIONS`
    violations are listed, plus one summary notice when there are more. No ``xsd_dir`` (or a folder
    without the schemas) means no check and no notices. The ``v1.3.0`` namespace variant is validated
    against the 1.3.0 XSD after mapping it to the standard ``tree/v1`` namespace (the XSD's target
    namespace). A version with later schemas (:data:`LATER_SCHEMA_FILES`) is checked against each one
    the folder has: fitting one of them is enough, else the violations of the closest one are listed.
    """
    if not xsd_dir or version not in SCHEMA_FILES:
        return []
    base = Path(xsd_dir)
    files = [file for file in (*LATER_SCHEMA_FILES.get(version, ()), SCHEMA_FILES[version]) if (base / file).is_file()]
    if not (base / IMPORT_MAP).is_file() or SCHEMA_FILES[version] not in files:
        return []
    candidate = root
    if version == "v1.3.0":
        candidate = _as_namespace(root, namespace_for("v1.3.0"), namespace_for("v1"))
    fewest: list[Any] = []
    for file in files:
        try:
            schema = _compiled_schema(str(base.resolve()), file)
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError, ValueError) as exc:
            return [Notice("XSD_UNAVAILABLE", f"the XSD {file} could not be compiled: {clip(exc, 300)}")]
        if schema.validate(candidate):
            return []
        errors: list[Any] = list(cast(Iterable[Any], schema.error_log))
        if not fewest or len(errors) < len(fewest):
            fewest = errors
    return _violations(root, candidate, received, fewest)


def _violations(
    root: etree._Element, candidate: etree._Element, received: etree._Element | None, errors: list[Any]
) -> list[Notice]:
    """The XSD_VIOLATION notices of ``errors``, found validating ``candidate`` (``root`` or a copy of it)."""
    listed = errors[:MAX_VIOLATIONS]
    elements = _violating_elements(candidate, listed)
    if received is None:
        lines = _lines_as_received(candidate, root, None, elements)
    else:
        lines = _lines_as_received(candidate, received, received.find(_ENVELOPED_SIGNATURE), elements)
    notices = [
        Notice("XSD_VIOLATION", _message(error, None if element is None else lines.get(element)))
        for error, element in zip(listed, elements, strict=True)
    ]
    if len(errors) > MAX_VIOLATIONS:
        notices.append(Notice("XSD_VIOLATION", f"{len(errors) - MAX_VIOLATIONS} more XSD violations were not listed"))
    return notices
