"""XSD conformance of an ELMO document, reported as warnings (never a rejection).

Real signed documents often violate the XSD; the signature is the integrity check. The official
schemas import remote ``schemaLocation`` URLs; an lxml :class:`~lxml.etree.Resolver` driven by
``offline-import-map.json`` maps them to local files, and the parser never touches the network.
Compiled schemas are cached per process (compiling takes a while).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from emrex_emc.core.elmo.versions import NAMESPACES, namespace_for, split_tag
from emrex_emc.core.errors import Notice

SCHEMA_FILES: dict[str, str] = {
    "v1": "elmo-schemas/v1.7.0/schema.xsd",
    "v1.3.0": "elmo-schemas/v1.3.0/schema.xsd",
    "v2": "elmo-schemas/v2-namespace-65e55f6/schema.xsd",
}
IMPORT_MAP = "offline-import-map.json"
MAX_VIOLATIONS = 20
_SUFFIX_RULES = (
    ("references/xmldsig-core-schema.xsd", "elmo-schemas/references/xmldsig-core-schema.xsd"),
    ("references/EUROPASS_ISOCountries_V1.1.xsd", "elmo-schemas/references/EUROPASS_ISOCountries_V1.1.xsd"),
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

    def local_path(self, url: str) -> Path | None:
        relative = self.mapping.get(url)
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


@lru_cache(maxsize=8)
def _compiled_schema(xsd_dir: str, version: str) -> etree.XMLSchema:
    base = Path(xsd_dir)
    mapping = json.loads((base / IMPORT_MAP).read_text(encoding="utf-8"))
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_OfflineResolver(base, {k: v for k, v in mapping.items() if not k.startswith("_")}))
    document = etree.parse(str(base / SCHEMA_FILES[version]), parser)
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


def _message(error: Any) -> str:
    text = str(error.message)
    for pattern, replacement in _QUOTED_VALUES:
        text = pattern.sub(replacement, text)
    for namespace in NAMESPACES:
        text = text.replace(f"{{{namespace}}}", "")
    return f"line {error.line}: {text}"


def check_conformance(root: etree._Element, version: str, xsd_dir: str | None) -> list[Notice]:
    """Validate ``root`` against the official XSD of ``version``; violations become XSD_VIOLATION notices.

    At most :data:`MAX_VIOLATIONS` violations are listed, plus one summary notice when there are more.
    No ``xsd_dir`` (or a folder without the schemas) means no check and no notices. The ``v1.3.0``
    namespace variant is validated against the 1.3.0 XSD after mapping it to the standard ``tree/v1``
    namespace (the XSD's target namespace).
    """
    if not xsd_dir or version not in SCHEMA_FILES:
        return []
    base = Path(xsd_dir)
    if not (base / IMPORT_MAP).is_file() or not (base / SCHEMA_FILES[version]).is_file():
        return []
    try:
        schema = _compiled_schema(str(base.resolve()), version)
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError, ValueError) as exc:
        return [Notice("XSD_UNAVAILABLE", f"the {version} XSD could not be compiled: {exc}")]
    candidate = root
    if version == "v1.3.0":
        candidate = _as_namespace(root, namespace_for("v1.3.0"), namespace_for("v1"))
    if schema.validate(candidate):
        return []
    errors: list[Any] = list(cast(Iterable[Any], schema.error_log))
    notices = [Notice("XSD_VIOLATION", _message(error)) for error in errors[:MAX_VIOLATIONS]]
    if len(errors) > MAX_VIOLATIONS:
        notices.append(Notice("XSD_VIOLATION", f"{len(errors) - MAX_VIOLATIONS} more XSD violations were not listed"))
    return notices
