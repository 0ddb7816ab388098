"""The ELMO trust pipeline: decode -> parse -> signature -> version -> read -> conformance -> identity.

:func:`verify_elmo` turns the posted ``elmo`` value (EMREX 1) into results we can trust, or raises
:class:`~emrex_emc.core.errors.EmrexError` with the precise reason. Everything after the signature
step reads only from the tree that the signature check returned.

:func:`verify_elmo_results` does the same for EMREX 2.0 results: the detached JWS over the raw body is the
trust anchor and is verified before the body is parsed; an enveloped XML signature inside is checked too
when a certificate of the EMP is known (then the rest reads the tree it returned), and otherwise reported
as not checked. From there both share the same steps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lxml import etree

from emrex_emc.core import certs
from emrex_emc.core.decode import decode_elmo_value
from emrex_emc.core.elmo.conformance import check_conformance
from emrex_emc.core.elmo.model import ElmoDocument
from emrex_emc.core.elmo.reader import read_elmo
from emrex_emc.core.elmo.versions import detect_version
from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.policy import PipelinePolicy, XmlLimits
from emrex_emc.core.signature import verify_enveloped
from emrex_emc.core.signature_facts import ResultSignature
from emrex_emc.core.text import clip
from emrex_emc.core.xmlsafe import parse_xml

if TYPE_CHECKING:
    from emrex_emc.core.identity import ExpectedIdentity, IdentityResult

LATIN1_FALLBACK = Notice(
    "ENCODING_LATIN1_FALLBACK",
    "the document declares UTF-8 but its bytes are ISO-8859-1; it was read as ISO-8859-1 and its signature verifies",
)
NOTICE_XML_SIGNATURE_NOT_CHECKED = "XML_SIGNATURE_NOT_CHECKED"
"""EMREX 2.0: the detached JWS verified the results; an XML signature inside them was not checked."""
_DECLARED_ENCODING = re.compile(rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass(frozen=True)
class VerifiedElmo:
    """An accepted ELMO document: what was signed, by whom, and how it compares to the applicant."""

    document: ElmoDocument
    signature: ResultSignature
    identity: IdentityResult | None
    notices: tuple[Notice, ...]
    """Warnings of every step (signature, encoding, reader, conformance), in pipeline order."""

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": True,
            "signature": self.signature.to_json(),
            "elmo_version": self.document.version,
            "elmo": self.document.to_json(),
            "identity": None if self.identity is None else self.identity.to_json(),
            "warnings": [notice.to_json() for notice in self.notices],
        }


def verify_elmo(
    payload: str | bytes,
    certificates: Sequence[bytes],
    policy: PipelinePolicy,
    *,
    expected: ExpectedIdentity | None = None,
    now: datetime | None = None,
    xsd_dir: str | None = None,
) -> VerifiedElmo:
    """Verify ``payload`` (the ``elmo`` form value or an XML document) against the EMP's certificates.

    ``certificates`` are the EMP's registry certificates, DER or PEM. ``now`` defaults to the current
    time (naive values are taken as UTC). Raises :class:`EmrexError` when the document is refused.
    """
    moment = _aware(now or datetime.now(UTC))
    trusted = certs.load_all(certificates)
    xml = decode_elmo_value(payload, policy.decode)
    root, latin1 = _parse(xml, policy.xml)
    _require_elmo_root(root)
    _refuse_comments_in_text(root)
    try:
        signed, facts = verify_enveloped(root, trusted, policy.signature, moment)
    except EmrexError as exc:
        if not latin1:
            raise
        reason = clip(exc.message, 450)
        raise EmrexError(
            ErrorCode.ENCODING_INVALID,
            f"the document declares UTF-8 but is not; read as ISO-8859-1 it is still refused ({reason})",
        ) from exc
    notices = (*facts.notices, *((LATIN1_FALLBACK,) if latin1 else ()))
    return _read_signed(signed, root, facts, notices, expected=expected, xsd_dir=xsd_dir)


def verify_elmo_results(
    body: bytes,
    x_signature: str | None,
    public_key: bytes,
    certificates: Sequence[bytes],
    policy: PipelinePolicy,
    *,
    expected: ExpectedIdentity | None = None,
    now: datetime | None = None,
    xsd_dir: str | None = None,
) -> VerifiedElmo:
    """Verify EMREX 2.0 results: the ELMO XML ``body`` as received, its ``X-Signature`` (a detached JWS, RS256)
    checked with the EMP's ``public_key`` (DER SubjectPublicKeyInfo), then the shared steps.

    ``certificates`` are the EMP's known registry certificates (from an EMREX 1 entry of the same provider),
    which check an enveloped XML signature inside the body when there is one. Raises :class:`EmrexError`
    when the results are refused (``JWS_*`` for the JWS, the usual codes for everything after it).
    """
    from emrex_emc.core.jws import verify_detached_jws

    moment = _aware(now or datetime.now(UTC))
    if len(body) > policy.decode.max_decompressed_bytes:
        raise EmrexError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the results have {len(body)} bytes, more than the limit of {policy.decode.max_decompressed_bytes}",
        )
    if not body.strip():
        raise EmrexError(ErrorCode.PAYLOAD_EMPTY, "the results body is empty")
    jws = verify_detached_jws(x_signature, body, public_key)
    root, latin1 = _parse(body, policy.xml)
    _require_elmo_root(root)
    _refuse_comments_in_text(root)
    trusted = certs.load_all(certificates)
    has_signature = root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    if trusted and has_signature:
        signed, enveloped = verify_enveloped(root, trusted, policy.signature, moment)
        facts, notices = replace(jws, enveloped=enveloped), enveloped.notices
    else:
        why = "no certificate of this EMP is known" if has_signature else "the results carry none"
        signed, facts = root, jws
        notices = (Notice(NOTICE_XML_SIGNATURE_NOT_CHECKED, f"an enveloped XML signature was not checked: {why}"),)
    notices = (*notices, *((LATIN1_FALLBACK,) if latin1 else ()))
    return _read_signed(signed, root, facts, notices, expected=expected, xsd_dir=xsd_dir)


def _read_signed(
    signed: etree._Element,
    received: etree._Element,
    facts: ResultSignature,
    notices: tuple[Notice, ...],
    *,
    expected: ExpectedIdentity | None,
    xsd_dir: str | None,
) -> VerifiedElmo:
    """The steps after the signature, on the tree it vouched for: version, reader, conformance, identity."""
    version = detect_version(signed)
    document = read_elmo(signed)
    conformance = check_conformance(signed, version, xsd_dir, received=received)
    identity = _match(document, expected)
    all_notices = (*notices, *document.notices, *conformance)
    return VerifiedElmo(document=document, signature=facts, identity=identity, notices=tuple(all_notices))


def declared_encoding(xml: bytes) -> str | None:
    """The encoding named in the XML declaration, lower-cased, if any."""
    match = _DECLARED_ENCODING.match(xml)
    return match.group(1).decode("ascii").lower() if match else None


def _parse(xml: bytes, limits: XmlLimits) -> tuple[etree._Element, bool]:
    """The parsed tree and whether it had to be read as ISO-8859-1 (the Danish WebLogic quirk)."""
    try:
        return parse_xml(xml, limits), False
    except EmrexError as exc:
        if exc.code is not ErrorCode.ENCODING_INVALID or declared_encoding(xml) not in (None, "utf-8", "utf8"):
            raise
        return parse_xml(xml, limits, encoding="ISO-8859-1"), True


def _refuse_comments_in_text(root: etree._Element) -> None:
    """Refuse a comment placed inside a text value (``<familyName>de<!---->Vries</familyName>``).

    Comments are outside the signed canonical form, so such a document still verifies; we read only
    the verified tree, but a document whose values were split this way was edited after signing or
    crafted to fool other readers of the same evidence. No EMP writes comments inside values.
    """
    for comment in root.iter(etree.Comment):
        parent = comment.getparent()
        if parent is None:
            continue
        around = [parent.text, *(sibling.tail for sibling in parent)]
        if any(text and text.strip() for text in around):
            raise EmrexError(
                ErrorCode.COMMENT_IN_SIGNED_TEXT,
                f"a comment was inserted inside the text of <{clip(etree.QName(parent).localname, 100)}>; "
                "comments inside values are a known attack on signed documents",
            )


def _require_elmo_root(root: etree._Element) -> None:
    tag = root.tag if isinstance(root.tag, str) else ""
    local = tag.rpartition("}")[2]
    if local != "elmo":
        raise EmrexError(ErrorCode.NOT_ELMO, f"the document's root element is <{clip(local, 100) or '?'}>, not <elmo>")


def _match(document: ElmoDocument, expected: ExpectedIdentity | None) -> IdentityResult | None:
    if expected is None:
        return None
    from emrex_emc.core.identity import match_identity

    return match_identity(document.learner, expected)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
