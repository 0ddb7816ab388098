"""Seeded mutations of signed ELMO documents for the trust-pipeline fuzz test (``test_fuzz_signed.py``).

Three layers are mutated: the XML tree (every element and attribute of the ``Signature`` and of the
ELMO body: remove, empty, duplicate, garble, move, rename, odd children and attributes), the serialized
bytes, and the encoded ``elmo`` value (base64 and gzip). Every mutation is a pure function of a
``random.Random`` and its input, so a case is reproduced from its seed alone.
"""

from __future__ import annotations

import base64
import copy
import gzip
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
SIGNATURE_TAG = f"{{{DS_NS}}}Signature"
HUGE = 450_000
"""The size of the URI attribute that once made a 300 KB rejection event."""

TRICKY_VALUES = (
    "",
    " ",
    "\n\t ",
    "=",
    "====",
    "A",
    "AA==",
    "AAAA",
    "!!!!",
    "#",
    "#id",
    "#xpointer(/)",
    "#xpointer(id('x'))",
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2000/09/xmldsig#base64",
    "http://www.w3.org/TR/1999/REC-xpath-19991116",
    "http://www.w3.org/TR/1999/REC-xslt-19991116",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
    "http://www.w3.org/2000/09/xmldsig#sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmlenc#sha512",
    "http://www.w3.org/2001/04/xmldsig-more#md5",
    "file:///etc/passwd",
    "https://attacker.example/x.xsd",
    "-1",
    "0",
    "NaN",
    "Infinity",
    "1e999999",
    "9" * 4000,
    "7,5",
    "2024-02-30",
    "0000-00-00",
    "2024-06-30T25:61:00+99:00",
    "data:",
    "data:;base64,",
    "data:application/pdf;base64,!!!!",
    "data:application/pdf;base64,JVBERi0=",
    "data:" + "x" * 3000 + ";base64,AAAA",
    "data:text/plain,%ZZ%",
    "<![CDATA[x]]>",
    "\u202eevil\u202c",
    "\u200b\ufeff",
    "\x85\x9b2J\x9b31m",  # C1 controls (NEL, CSI) are allowed in XML text
    "\U0001d54f" * 40,  # an astral-plane letter
)


@dataclass(frozen=True)
class Mutated:
    """A mutated payload and what was done to it (shown when the invariant fails)."""

    payload: str | bytes
    description: str
    resign: bool = False
    """The ELMO body was mutated and the document signed again, so the reader sees the mutation."""


def garble(rng: random.Random) -> str:
    """A hostile value: tricky constants, random text, unicode, controls allowed in XML, or a huge string."""
    pick = rng.random()
    if pick < 0.35:
        return rng.choice(TRICKY_VALUES)
    if pick < 0.55:
        return "".join(rng.choice("ABCDEFabcdef0123456789+/=-_:#. ") for _ in range(rng.randint(1, 80)))
    if pick < 0.75:
        return "".join(chr(_xml_codepoint(rng)) for _ in range(rng.randint(1, 60)))
    if pick < 0.85:
        return base64.b64encode(rng.randbytes(rng.randint(0, 600))).decode("ascii")
    if pick < 0.95:
        return rng.choice(("A", "x", "\x9b2J", "é", "a b ")) * rng.randint(1_000, 20_000)
    return rng.choice(("x", "A", "/")) * HUGE


def _xml_codepoint(rng: random.Random) -> int:
    """A code point lxml accepts in text and attribute values (no C0 controls, no surrogates)."""
    while True:
        point = rng.choice((rng.randint(0x20, 0x7E), rng.randint(0x7F, 0x2FFF), rng.randint(0x10000, 0x10FFFF)))
        if not (0xD800 <= point <= 0xDFFF or point in (0xFFFE, 0xFFFF)):
            return point


def _random_name(rng: random.Random) -> str:
    return rng.choice(
        (
            "Signature",
            "SignedInfo",
            "Reference",
            "Transform",
            "x",
            "elmo",
            "report",
            "learner",
            "diplomaSupplement",
            "a" * rng.randint(1, 5000),
            "é" + str(rng.randint(0, 9)),
        )
    )


def _random_namespace(rng: random.Random) -> str | None:
    return rng.choice(
        (
            None,
            DS_NS,
            "https://github.com/emrex-eu/elmo-schemas/tree/v1",
            "https://github.com/emrex-eu/elmo-schemas/tree/v2",
            "https://github.com/emrex-eu/elmo-schemas/tree/v1.3.0",
            "http://purl.org/net/elmo",
            "urn:x-" + "n" * rng.randint(1, 3000),
            "http://www.w3.org/2001/10/xml-exc-c14n#",
        )
    )


def _tag(namespace: str | None, local: str) -> str:
    return local if namespace is None else f"{{{namespace}}}{local}"


# --- tree mutations ------------------------------------------------------------------------------

TreeMutation = Callable[[random.Random, etree._Element, etree._Element], str]
"""(rng, root, target element) -> description; edits the tree in place."""


def _remove(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    parent = target.getparent()
    if parent is None:
        return "nothing (root)"
    parent.remove(target)
    return "remove"


def _empty(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    for child in list(target):
        target.remove(child)
    target.text = rng.choice((None, "", " "))
    return "empty"


def _duplicate(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    parent = target.getparent()
    if parent is None:
        return "nothing (root)"
    twin = copy.deepcopy(target)
    twin.tail = target.tail
    target.addnext(twin) if rng.random() < 0.5 else target.addprevious(twin)
    return "duplicate"


def _garble_text(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    value = garble(rng)
    if rng.random() < 0.3:
        for child in list(target):
            target.remove(child)
    target.text = value
    return f"garble text ({len(value)} chars)"


def _garble_tail(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    if target.getparent() is None:
        return "nothing (root)"
    target.tail = garble(rng)
    return "garble tail"


def _move(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    if target.getparent() is None:
        return "nothing (root)"
    candidates = [e for e in root.iter() if isinstance(e.tag, str) and e is not target]
    candidates = [e for e in candidates if target not in e.iterancestors() and e not in target.iter()]
    if not candidates:
        return "nothing (no destination)"
    destination = rng.choice(candidates)
    destination.insert(rng.randint(0, len(destination)), target)
    return f"move into <{etree.QName(destination).localname[:40]}>"


def _rename(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    namespace = etree.QName(target).namespace
    local = etree.QName(target).localname
    choice = rng.random()
    if choice < 0.4:
        target.tag = _tag(_random_namespace(rng), local)
    elif choice < 0.8:
        target.tag = _tag(namespace, _random_name(rng))
    else:
        target.tag = _tag(_random_namespace(rng), _random_name(rng))
    return "rename"


def _odd_child(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    kind = rng.randrange(7)
    index = rng.randint(0, len(target))
    if kind == 0:
        target.insert(index, etree.Comment(rng.choice(("", "x", "-" + "c" * 3000))))
    elif kind == 1:
        target.insert(index, etree.ProcessingInstruction("pi", rng.choice(("", "x", "y" * 3000))))
    elif kind == 2:
        target.text = etree.CDATA(garble(rng).replace("]]>", ""))
    elif kind == 3:
        target.insert(index, etree.Element(_tag(_random_namespace(rng), _random_name(rng))))
    elif kind == 4:
        nested = etree.Element(_tag(DS_NS, "Signature"))
        etree.SubElement(nested, _tag(DS_NS, "SignedInfo"))
        target.insert(index, nested)
    elif kind == 5:
        target.insert(index, etree.Entity("amp"))
    else:
        prefixes = etree.Element(_tag(EXC_C14N_NS, "InclusiveNamespaces"))
        prefixes.set("PrefixList", rng.choice(("", " ", "#default", "ds xs", "xml", "a:b", garble(rng))))
        target.insert(index, prefixes)
    return f"odd child kind {kind}"


def _set_attribute(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    name = rng.choice(
        ("Algorithm", "URI", "Id", "ID", "id", "Type", "type", "localId", "typeref", "idref", "PrefixList")
    )
    namespace = rng.choice((None, None, None, DS_NS, "http://www.w3.org/XML/1998/namespace", "urn:x"))
    if namespace == "http://www.w3.org/XML/1998/namespace":
        name = rng.choice(("lang", "id", "space", "base"))
    target.set(_tag(namespace, name), garble(rng))
    return f"set attribute {name}"


def _mutate_attribute(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    names = list(target.attrib)
    if not names:
        return _set_attribute(rng, root, target)
    name = rng.choice(names)
    action = rng.randrange(4)
    if action == 0:
        del target.attrib[name]
        return f"remove attribute {name}"
    if action == 1:
        target.set(name, "")
        return f"empty attribute {name}"
    if action == 2:  # the same local name again, in another namespace
        local = etree.QName(name).localname
        target.set(_tag(rng.choice((DS_NS, "urn:x", None)), local), garble(rng))
        return f"duplicate attribute {name}"
    target.set(name, garble(rng))
    return f"garble attribute {name}"


TREE_MUTATIONS: tuple[TreeMutation, ...] = (
    _remove,
    _empty,
    _duplicate,
    _garble_text,
    _garble_tail,
    _move,
    _rename,
    _odd_child,
    _set_attribute,
    _mutate_attribute,
    _mutate_attribute,
)


def _emptied(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
    """``<X/>``: no children, no text (``_empty`` may leave "" or " ")."""
    for child in list(target):
        target.remove(child)
    target.text = None
    return "emptied"


SWEPT_MUTATIONS: tuple[TreeMutation, ...] = (_remove, _emptied, _empty, _duplicate, _garble_text)
"""What :func:`sweep` applies to every element, one at a time."""
ATTRIBUTE_ACTIONS = ("remove", "empty", "duplicate", "garble")


def _attribute(action: str, name: str) -> TreeMutation:
    def mutate(rng: random.Random, root: etree._Element, target: etree._Element) -> str:
        if action == "remove":
            del target.attrib[name]
        elif action == "duplicate":  # the same local name again, in another namespace
            namespace = "urn:x" if etree.QName(name).namespace != "urn:x" else DS_NS
            target.set(_tag(namespace, etree.QName(name).localname), "")
        else:
            target.set(name, "" if action == "empty" else garble(rng))
        return f"{action} attribute {etree.QName(name).localname}"

    return mutate


def sweep(document: bytes, *, in_signature: bool) -> Iterator[tuple[str, etree._Element]]:
    """Every element of the Signature (or of the body) removed, emptied, duplicated and garbled, and every
    attribute removed, emptied, duplicated and garbled, each alone: a fresh tree per case, described as
    ``"<mutation> on <element #n>"``."""

    def pool(root: etree._Element) -> list[etree._Element]:
        signature = signature_of(root)
        if in_signature:
            return [] if signature is None else [e for e in signature.iter() if isinstance(e.tag, str)]
        return [
            e
            for e in root.iter()
            if isinstance(e.tag, str) and e.tag != SIGNATURE_TAG and SIGNATURE_TAG not in _ancestor_tags(e)
        ]

    for position, element in enumerate(pool(etree.fromstring(document))):
        cases = [*SWEPT_MUTATIONS]
        cases += [_attribute(action, name) for name in element.attrib for action in ATTRIBUTE_ACTIONS]
        for number, mutation in enumerate(cases):
            root = etree.fromstring(document)
            target = pool(root)[position]
            name = etree.QName(target).localname[:40]
            rng = random.Random(f"sweep:{position}:{number}")
            yield f"{mutation.__name__.lstrip('_')} on <{name} #{position}>: {mutation(rng, root, target)}", root


def signature_of(root: etree._Element) -> etree._Element | None:
    return root.find(SIGNATURE_TAG)


def mutate_tree(rng: random.Random, root: etree._Element, *, in_signature: bool) -> str:
    """Apply one to three tree mutations to elements of the Signature or of the body; describe them."""
    steps = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        signature = signature_of(root)
        if in_signature and signature is not None:
            pool = [e for e in signature.iter() if isinstance(e.tag, str)]
        else:
            pool = [
                e
                for e in root.iter()
                if isinstance(e.tag, str) and e.tag != SIGNATURE_TAG and SIGNATURE_TAG not in _ancestor_tags(e)
            ]
        if not pool:
            break
        target = rng.choice(pool)
        name = etree.QName(target).localname[:40]
        mutation = rng.choice(TREE_MUTATIONS)
        steps.append(f"{mutation.__name__.lstrip('_')} on <{name}>: {mutation(rng, root, target)}")
    return "; ".join(steps) or "no element to mutate"


def _ancestor_tags(element: etree._Element) -> set[str]:
    return {a.tag for a in element.iterancestors() if isinstance(a.tag, str)}


# --- byte and encoding mutations -------------------------------------------------------------------

_INSERTS = (
    b"\x1b[2J",
    b"\x00",
    b"<",
    b">",
    b"&",
    b"&#0;",
    b"&#x1b;",
    b"&amp;",
    b"]]>",
    b"<!--",
    b'"',
    b"<!DOCTYPE x>",
    b"<?xml version='1.0'?>",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x80\xae",
    b"\xf4\x90\x80\x80",
    b"=",
    b"\n",
)


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """One byte-level mutation: flip, replace, insert, delete, duplicate or truncate."""
    if not data:
        return rng.choice(_INSERTS), "replace empty"
    buffer = bytearray(data)
    at = rng.randrange(len(buffer))
    action = rng.randrange(7)
    if action == 0:
        buffer[at] ^= 1 << rng.randrange(8)
        return bytes(buffer), f"flip a bit at {at}"
    if action == 1:
        buffer[at] = rng.randrange(256)
        return bytes(buffer), f"replace byte {at}"
    if action == 2:
        insert = rng.choice(_INSERTS) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 16))
        return bytes(buffer[:at] + insert + buffer[at:]), f"insert {insert!r} at {at}"
    if action == 3:
        end = min(len(buffer), at + rng.randint(1, 64))
        return bytes(buffer[:at] + buffer[end:]), f"delete {at}:{end}"
    if action == 4:
        end = min(len(buffer), at + rng.randint(1, 256))
        return bytes(buffer[:end] + buffer[at:end] + buffer[end:]), f"duplicate {at}:{end}"
    if action == 5:
        return bytes(buffer[:at]), f"truncate at {at}"
    return bytes(buffer[:at] + buffer[at:].swapcase()), f"swap case from {at}"


def mutate_encoded(rng: random.Random, xml: bytes) -> tuple[str | bytes, str]:
    """The document encoded as an ``elmo`` value, then damaged in its gzip or base64 layer."""
    compressed = gzip.compress(xml, mtime=0)
    layer = rng.randrange(5)
    if layer == 0:
        damaged, what = mutate_bytes(rng, compressed)
        return base64.b64encode(damaged).decode("ascii"), f"gzip: {what}"
    if layer == 1:
        text, what = mutate_bytes(rng, base64.b64encode(compressed))
        return text, f"base64 of gzip: {what}"
    if layer == 2:
        text, what = mutate_bytes(rng, base64.b64encode(xml))
        return text, f"base64 of xml: {what}"
    if layer == 3:
        damaged, what = mutate_bytes(rng, compressed)
        return damaged, f"raw gzip: {what}"
    text = xml.decode("utf-8") if rng.random() < 0.5 else base64.b64encode(compressed).decode("ascii")
    at = rng.randrange(len(text) + 1)
    insert = rng.choice(("\ud800", "\udfff", "\x00", "\x1b[2J", "é", "\u202e", "\U0001f600", "\ufeff"))
    return text[:at] + insert + text[at:], f"text: insert {insert!r} at {at}"


_HASHES = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": hashes.SHA1,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256,
}


def sign_signed_info(root: etree._Element, key_pem: bytes) -> bool:
    """Make the SignatureValue match the (mutated) SignedInfo again, as signxml will canonicalize it.

    The signature then verifies and signxml goes on to the reference, the transforms and the digest with
    whatever the mutation left there. False when the SignedInfo cannot be signed (unknown algorithms).
    """
    signature = signature_of(root)
    signed_info = None if signature is None else signature.find(f"{{{DS_NS}}}SignedInfo")
    value = None if signature is None else signature.find(f"{{{DS_NS}}}SignatureValue")
    if signed_info is None or value is None:
        return False
    method = signed_info.find(f"{{{DS_NS}}}SignatureMethod")
    c14n = signed_info.find(f"{{{DS_NS}}}CanonicalizationMethod")
    algorithm = "" if method is None else method.get("Algorithm", "")
    c14n_uri = "" if c14n is None else c14n.get("Algorithm", "")
    if algorithm not in _HASHES or c14n_uri not in _C14N:
        return False
    exclusive, with_comments = _C14N[c14n_uri]
    prefixes = c14n.find(f"{{{EXC_C14N_NS}}}InclusiveNamespaces[@PrefixList]") if c14n is not None else None
    try:  # signxml canonicalizes SignedInfo inside a re-parsed copy of the Signature element
        copy_of_signed_info = etree.fromstring(etree.tostring(signature)).find(f"{{{DS_NS}}}SignedInfo")
        canonical = etree.tostring(
            copy_of_signed_info,
            method="c14n",
            exclusive=exclusive,
            with_comments=with_comments,
            inclusive_ns_prefixes=None if prefixes is None else (prefixes.get("PrefixList") or "").split(" "),
        )
    except (etree.LxmlError, ValueError, TypeError, AttributeError):
        return False
    if not exclusive:
        canonical = canonical.replace(b' xmlns=""', b"")
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    value.text = base64.b64encode(key.sign(canonical, padding.PKCS1v15(), _HASHES[algorithm]())).decode("ascii")
    return True


_C14N = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    "http://www.w3.org/2001/10/xml-exc-c14n#": (True, False),
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": (True, True),
}


def serialize(root: etree._Element) -> bytes | None:
    """The tree as a UTF-8 document, or ``None`` when lxml cannot serialize what the mutation made."""
    try:
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    except (ValueError, TypeError, etree.SerialisationError):
        return None
