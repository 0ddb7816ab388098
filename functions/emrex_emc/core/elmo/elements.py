"""Element access for the ELMO reader: an element's ELMO children by local name, their texts, and model
objects built in one step.

Elements are found by local name inside the document's ELMO namespace (prefixes do not matter); anything
else (extensions, ``ds:Signature``, comments, processing instructions) is skipped, as ELMO requires of
clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar, cast

from lxml import etree

from emrex_emc.core.elmo.primitives import Identifier, LocalizedText

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

Kids = dict[str, list[etree._Element]]
"""An element's ELMO children grouped by local name, in document order."""
Texts = dict[str, str | None]
"""The text (see :func:`text_of`) of the first child of each requested local name that is present."""
_NO_TEXTS: frozenset[str] = frozenset()


def text_of(element: etree._Element) -> str | None:
    """All text inside the element (CDATA included, comments excluded), stripped; empty -> None."""
    # a leaf's .text already includes its CDATA; only an element with children (or comments) needs itertext
    text = "".join(cast(Iterator[str], element.itertext())) if len(element) else element.text
    if text:
        text = text.strip()
        if text:
            return text
    return None


def first_named(element: etree._Element, tag: str) -> etree._Element | None:
    """The element's first child with this exact ``{namespace}local`` tag."""
    for node in element:
        if node.tag == tag:
            return node
    return None


_T = TypeVar("_T")
_new_object = object.__new__
_set_attribute = object.__setattr__


def make(cls: type[_T], fields: dict[str, Any]) -> _T:
    """A frozen model dataclass built from ALL its fields at once, without running its ``__init__``.

    A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__`` (it cannot use plain
    assignment), 3x slower than handing the instance its finished ``__dict__``; for the ~5 objects a
    course needs that was a fifth of the read time. ``fields`` must name every field of ``cls`` (no
    defaults are filled in); the reader's tests check that every object it makes equals one made by
    ``__init__``.
    """
    made = _new_object(cls)
    _set_attribute(made, "__dict__", fields)
    return made


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


class Elements:
    """The ELMO children of elements in one ELMO namespace, found by local name."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.local_names: dict[object, str | None] = _LocalNames(f"{{{namespace}}}")
        """lxml tag -> ELMO local name (None: not an ELMO element); the per-course loops use it directly."""

    def tag(self, local_name: str) -> str:
        """The ``{namespace}local`` tag lxml gives an ELMO element of this local name."""
        return f"{{{self.namespace}}}{local_name}"

    def scan(self, element: etree._Element | None, text_names: frozenset[str] = _NO_TEXTS) -> tuple[Kids, Texts]:
        """One pass over the element's children: the ELMO ones grouped by local name, and the texts of
        the first child of each name in ``text_names`` (read while grouping: no second lookup)."""
        grouped: Kids = {}
        texts: Texts = {}
        if element is None:
            return grouped, texts
        local_names = self.local_names
        for node in element:
            name = local_names[node.tag]
            if name is None:
                continue
            same = grouped.get(name)
            if same is not None:
                same.append(node)
                continue
            grouped[name] = [node]
            if name in text_names:
                texts[name] = text_of(node)
        return grouped, texts

    def kids(self, element: etree._Element | None) -> Kids:
        return self.scan(element)[0]

    def texts(self, element: etree._Element, text_names: frozenset[str]) -> Texts:
        """The texts :meth:`scan` would give, without grouping the children (for leaf-only elements)."""
        local_names = self.local_names
        texts: Texts = {}
        for node in element:
            name = local_names[node.tag]
            if name in text_names and name not in texts:
                texts[name] = text_of(node)
        return texts


def localized_text(element: etree._Element) -> LocalizedText | None:
    """A title or description with its ``xml:lang``; None when it has no text."""
    value = text_of(element)
    return None if value is None else make(LocalizedText, {"value": value, "lang": element.get(XML_LANG)})


def identifier(element: etree._Element) -> Identifier | None:
    """An ``identifier`` with its ``type`` attribute; None when it has no text."""
    value = text_of(element)
    return None if value is None else make(Identifier, {"value": value, "type": element.get("type")})


def localized(kids: Kids, name: str) -> tuple[LocalizedText, ...]:
    """The texts of all children called ``name`` (titles, descriptions), empty ones left out."""
    found = kids.get(name)
    if not found:
        return ()
    items = [localized_text(element) for element in found]
    return tuple([item for item in items if item is not None])


def identifiers(kids: Kids) -> tuple[Identifier, ...]:
    """All ``identifier`` children, empty ones left out."""
    found = kids.get("identifier")
    if not found:
        return ()
    items = [identifier(element) for element in found]
    return tuple([item for item in items if item is not None])
