"""Step 3 of the trust pipeline: the enveloped XML-DSig signature of an ELMO document.

The shape of the signature is checked before any cryptography (one ``Signature`` as a direct child of
the root, one ``Reference URI=""``, only enveloped + C14N 1.0 transforms, an allow-list of algorithms,
base64 ``SignatureValue`` and ``DigestValue``): this closes the signature-wrapping tricks that a generic
verifier lets through, and refuses with a precise code what signxml would trip over (it decodes these
values unchecked: an empty ``SignatureValue`` raised ``TypeError``). The cryptography is
signxml's, configured as in emrex-protocol.md §5.6, against the EMP's registry certificates only; a
certificate in ``KeyInfo`` is used as a hint for the order in which registry certificates are tried,
never as a trust anchor. The caller must read data only from the returned tree: it is signxml's
re-parse of the canonical bytes that were digested, with everything unsigned (comments excluded by
the canonicalization, the signature itself) removed.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, InvalidSignature, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from emrex_emc.core import certs
from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.policy import VerificationPolicy
from emrex_emc.core.signature_facts import SignatureFacts
from emrex_emc.core.text import clip
from emrex_emc.core.xmlsafe import thread_parser

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


def _ds(local: str) -> str:
    return f"{{{DS_NS}}}{local}"


C14N_METHODS: dict[str, str] = {
    CanonicalizationMethod.CANONICAL_XML_1_0.value: "c14n",
    CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS.value: "c14n-with-comments",
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value: "exc-c14n",
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS.value: "exc-c14n-with-comments",
}
SIGNATURE_METHODS: dict[str, SignatureMethod] = {
    m.value: m
    for m in (
        SignatureMethod.RSA_SHA1,
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
    )
}
DIGEST_METHODS: dict[str, DigestAlgorithm] = {
    d.value: d for d in (DigestAlgorithm.SHA1, DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512)
}
_SHA1 = frozenset({SignatureMethod.RSA_SHA1.value, DigestAlgorithm.SHA1.value})
_WHITESPACE = re.compile(r"\s+")
_SIGNXML_FAILURES = (
    SignXMLException,
    etree.LxmlError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    UnsupportedAlgorithm,
)
"""The last resort at the signxml boundary. signxml reads the signature with unchecked ``b64decode``, enum
and dictionary look-ups and re-parses its own serializations; :func:`check_shape` refuses every such case
we know of beforehand with a precise code, and whatever is left becomes ``SIGNATURE_INVALID``."""


class _OwnTreeVerifier(XMLVerifier):
    """signxml copies an input element before working on it and copies it again to apply the transforms.

    The pipeline hands over a tree it owns and never reads again (signxml does not modify it), so the
    first, redundant copy of a possibly large document is skipped. signxml copies by serializing and
    re-parsing; lxml's default serialization (ASCII, with the element's tail) cannot be re-parsed when
    an element or attribute name is not ASCII (``<&#248;>``) or when text follows the Signature, so
    every copy is made in UTF-8 and without the tail (a copy of one element never needs it).
    """

    def get_root(self, data: Any) -> Any:
        return data if isinstance(data, etree._Element) else super().get_root(data)  # type: ignore[no-untyped-call]

    def _tostring(self, xml_node: Any, **kwargs: Any) -> bytes:
        copy: bytes = etree.tostring(xml_node, encoding="utf-8", with_tail=False, **kwargs)
        return copy


@dataclass(frozen=True)
class _Shape:
    signature: etree._Element
    signature_algorithm: str
    digest_algorithm: str
    c14n_method: str

    @property
    def sha1(self) -> bool:
        return bool(_SHA1 & {self.signature_algorithm, self.digest_algorithm})


def verify_enveloped(
    root: etree._Element,
    certificates: Sequence[x509.Certificate],
    policy: VerificationPolicy,
    now: datetime,
) -> tuple[etree._Element, SignatureFacts]:
    """Verify the document's own signature against the registry ``certificates``.

    Returns the verified tree (read data only from it) and the facts of the signature. ``now`` must
    be timezone-aware. Raises :class:`EmrexError` with a signature or certificate code.
    """
    shape = check_shape(root, policy)
    if not certificates:
        raise EmrexError(ErrorCode.NO_TRUSTED_CERTIFICATE, "no registry certificate is known for this EMP")
    key_info = _key_info_certificates(shape.signature)
    hinted = {certs.sha256_fingerprint(c) for c in key_info}
    ordered = sorted(certificates, key=lambda c: certs.sha256_fingerprint(c) not in hinted)
    for cert in ordered:
        signed = _try_certificate(root, cert, shape, now)
        if signed is not None:
            return signed, _facts(shape, cert, policy, now)
    registry = {certs.sha256_fingerprint(c) for c in certificates}
    foreign = [c for c in key_info if certs.sha256_fingerprint(c) not in registry]
    if foreign:
        raise EmrexError(
            ErrorCode.SIGNATURE_UNTRUSTED_KEY,
            "the document is signed with a key that is not in the registry for this EMP "
            f"(KeyInfo certificate {certs.subject_text(foreign[0])}, "
            f"SHA-256 {certs.sha256_fingerprint(foreign[0])})",
        )
    raise EmrexError(
        ErrorCode.SIGNATURE_INVALID,
        f"the signature does not verify with any of the {len(certificates)} registry certificate(s) of this EMP",
    )


def check_shape(root: etree._Element, policy: VerificationPolicy) -> _Shape:
    """Structural checks that run before any cryptography (see the module docstring)."""
    signature = _the_signature(root)
    signed_info = _only_child(signature, "SignedInfo", ErrorCode.SIGNATURE_INVALID)
    c14n = _algorithm(_only_child(signed_info, "CanonicalizationMethod", ErrorCode.SIGNATURE_INVALID))
    if c14n not in C14N_METHODS:
        raise _forbidden_algorithm("canonicalization method", c14n)
    signature_method = _algorithm(_only_child(signed_info, "SignatureMethod", ErrorCode.SIGNATURE_INVALID))
    if signature_method not in SIGNATURE_METHODS:
        raise _forbidden_algorithm("signature method", signature_method)
    references = signed_info.findall(_ds("Reference"))
    if len(references) != 1:
        raise EmrexError(
            ErrorCode.SIGNATURE_REFERENCE_INVALID,
            f"the signature must have exactly one Reference, it has {len(references)}",
        )
    reference = references[0]
    if reference.get("URI") != "":
        raise EmrexError(
            ErrorCode.SIGNATURE_REFERENCE_INVALID,
            f'the signature must sign the whole document (Reference URI=""), not URI={_quoted(reference.get("URI"))}',
        )
    _check_transforms(reference)
    digest = _algorithm(_only_child(reference, "DigestMethod", ErrorCode.SIGNATURE_REFERENCE_INVALID))
    if digest not in DIGEST_METHODS:
        raise _forbidden_algorithm("digest method", digest)
    _check_base64(reference, "DigestValue", ErrorCode.SIGNATURE_REFERENCE_INVALID)
    _check_base64(signature, "SignatureValue", ErrorCode.SIGNATURE_INVALID)
    shape = _Shape(signature, signature_method, digest, c14n)
    if shape.sha1 and policy.forbid_sha1:
        raise EmrexError(
            ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN, "the signature uses SHA-1, which the verification policy forbids"
        )
    return shape


def _the_signature(root: etree._Element) -> etree._Element:
    direct = root.findall(_ds("Signature"))
    stray = [
        sig
        for sig in root.iter(_ds("Signature"))
        if sig.getparent() is not root and not _inside_diploma_supplement(sig)
    ]
    if len(direct) > 1:
        raise EmrexError(
            ErrorCode.SIGNATURE_MULTIPLE,
            f"the root has {len(direct)} signatures, exactly one is allowed",
        )
    if stray:
        raise EmrexError(
            ErrorCode.SIGNATURE_MISPLACED,
            f"a Signature element is inside {_quoted(etree.QName(stray[0].getparent()).localname)} "
            "(only a direct child of the root, or one inside a diploma supplement, is allowed)",
        )
    if not direct:
        raise EmrexError(ErrorCode.SIGNATURE_MISSING, "the document is not signed (no Signature on its root element)")
    return direct[0]


def _inside_diploma_supplement(element: etree._Element) -> bool:
    return any(etree.QName(a).localname == "diplomaSupplement" for a in element.iterancestors())


def _check_transforms(reference: etree._Element) -> None:
    transforms = reference.find(_ds("Transforms"))
    algorithms = [] if transforms is None else [_algorithm(t) for t in transforms if isinstance(t.tag, str)]
    for algorithm in algorithms:
        if algorithm != ENVELOPED and algorithm not in C14N_METHODS:
            raise EmrexError(
                ErrorCode.SIGNATURE_TRANSFORM_FORBIDDEN,
                f"the signature uses the transform {_quoted(algorithm)} "
                "(only enveloped-signature and C14N are allowed)",
            )
    if algorithms.count(ENVELOPED) != 1:
        raise EmrexError(
            ErrorCode.SIGNATURE_TRANSFORM_FORBIDDEN,
            "the Reference must use the enveloped-signature transform exactly once",
        )
    if len(algorithms) > 2:  # signxml cannot canonicalize twice (it raised TypeError)
        raise EmrexError(
            ErrorCode.SIGNATURE_TRANSFORM_FORBIDDEN,
            "the Reference may use one canonicalization transform at most",
        )


def _only_child(parent: etree._Element, local: str, code: ErrorCode) -> etree._Element:
    found = parent.findall(_ds(local))
    if len(found) != 1:
        raise EmrexError(code, f"the signature must have exactly one {local}, it has {len(found)}")
    return found[0]


def _algorithm(element: etree._Element) -> str:
    if not isinstance(element.tag, str):
        return "(comment or processing instruction)"
    return element.get("Algorithm") or ""


def _check_base64(parent: etree._Element, local: str, code: ErrorCode) -> None:
    """The one ``local`` child of ``parent`` holds non-empty base64 text (whitespace allowed) and nothing else."""
    element = _only_child(parent, local, code)
    compact = _WHITESPACE.sub("", element.text or "")
    try:
        valid = bool(compact) and not len(element) and bool(binascii.a2b_base64(compact, strict_mode=True))
    except (binascii.Error, ValueError):  # ValueError: non-ASCII characters
        valid = False
    if not valid:
        raise EmrexError(code, f"the signature's {local} is empty or not base64")


def _forbidden_algorithm(kind: str, uri: str) -> EmrexError:
    return EmrexError(ErrorCode.SIGNATURE_ALGORITHM_FORBIDDEN, f"the {kind} {_quoted(uri)} is not allowed")


def _quoted(value: str | None) -> str:
    """A value from the document, clipped and quoted as ``repr`` would (the quotes show where it ends)."""
    return "None" if value is None else repr(clip(value, 100))


def _key_info_certificates(signature: etree._Element) -> list[x509.Certificate]:
    found: list[x509.Certificate] = []
    for element in signature.iterfind(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}"):
        try:
            found.append(x509.load_der_x509_certificate(base64.b64decode("".join((element.text or "").split()))))
        except (ValueError, binascii.Error):
            continue
    return found


def _try_certificate(
    root: etree._Element, cert: x509.Certificate, shape: _Shape, now: datetime
) -> etree._Element | None:
    """The verified tree, or ``None`` when this certificate's key did not make the signature."""
    if not _has_rsa_key(cert):  # every allowed signature method is RSA
        return None
    config = SignatureConfiguration(
        require_x509=True,
        location="./",
        expect_references=1,
        signature_methods=frozenset({SIGNATURE_METHODS[shape.signature_algorithm]}),
        digest_algorithms=frozenset({DIGEST_METHODS[shape.digest_algorithm]}),
        ignore_ambiguous_key_info=True,
        verification_time=certs.clamp_into_validity(cert, now),
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    verifier = _OwnTreeVerifier()
    verifier.excise_empty_xmlns_declarations = True
    try:
        result = verifier.verify(root, x509_cert=cert, parser=thread_parser(), expect_config=config)
    except InvalidDigest as exc:
        raise EmrexError(
            ErrorCode.SIGNATURE_DIGEST_MISMATCH,
            "the signature is genuine but the document was changed after signing (digest mismatch)",
        ) from exc
    except InvalidSignature:
        return None
    except _SIGNXML_FAILURES as exc:
        raise EmrexError(ErrorCode.SIGNATURE_INVALID, f"the signature cannot be verified: {clip(exc, 300)}") from exc
    signed = result.signed_xml if not isinstance(result, list) else None
    if signed is None:
        raise EmrexError(ErrorCode.SIGNATURE_INVALID, "the signed content is not an XML element")
    return signed


def _has_rsa_key(cert: x509.Certificate) -> bool:
    try:
        return isinstance(cert.public_key(), rsa.RSAPublicKey)
    except (ValueError, UnsupportedAlgorithm):
        return False


def _facts(shape: _Shape, cert: x509.Certificate, policy: VerificationPolicy, now: datetime) -> SignatureFacts:
    notices: list[Notice] = []
    fingerprint = certs.sha256_fingerprint(cert)
    problem = certs.validity_problem(cert, now)
    if problem is not None:
        if policy.strict_cert_validity:
            raise EmrexError(
                ErrorCode.CERTIFICATE_EXPIRED,
                f"the signature verifies, but the registry certificate (SHA-256 {fingerprint}) is {problem}",
            )
        notices.append(
            Notice("CERT_OUTSIDE_VALIDITY", f"the registry certificate (SHA-256 {fingerprint}) is {problem}")
        )
    if shape.sha1:
        notices.append(Notice("SIGNATURE_SHA1", "the signature uses SHA-1, which is weak; ask the EMP to use SHA-256"))
    return SignatureFacts(
        signature_algorithm=shape.signature_algorithm,
        digest_algorithm=shape.digest_algorithm,
        c14n_method=shape.c14n_method,
        certificate_sha256=fingerprint,
        certificate_subject=certs.subject_text(cert),
        certificate_not_before=cert.not_valid_before_utc,
        certificate_not_after=cert.not_valid_after_utc,
        sha1=shape.sha1,
        notices=tuple(notices),
    )
