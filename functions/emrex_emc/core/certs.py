"""X.509 certificates of EMPs: loading (PEM, several PEMs, DER, bare base64 DER), fingerprints, validity."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.text import clip

_PEM_MARKER = b"-----BEGIN"


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """All certificates in ``data``: one or more PEM blocks, DER, or base64 DER without PEM armour."""
    try:
        if data[:1] == b"\x30":  # DER starts with an ASN.1 SEQUENCE; binary, so never strip it
            return [x509.load_der_x509_certificate(data)]
        stripped = data.strip()
        if not stripped:
            raise EmrexError(ErrorCode.CERTIFICATE_INVALID, "the certificate is empty")
        if _PEM_MARKER in stripped:
            return x509.load_pem_x509_certificates(stripped)
        return [x509.load_der_x509_certificate(base64.b64decode(b"".join(stripped.split()), validate=True))]
    except (ValueError, binascii.Error) as exc:
        raise EmrexError(ErrorCode.CERTIFICATE_INVALID, "the data is not a PEM or DER X.509 certificate") from exc


def load_all(blobs: Sequence[bytes]) -> list[x509.Certificate]:
    """Every certificate of every blob, in order, without duplicates."""
    seen: set[str] = set()
    result: list[x509.Certificate] = []
    for blob in blobs:
        for cert in load_certificates(blob):
            fingerprint = sha256_fingerprint(cert)
            if fingerprint not in seen:
                seen.add(fingerprint)
                result.append(cert)
    return result


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the DER encoding (what the registry snapshot stores)."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def subject_text(cert: x509.Certificate) -> str:
    """The subject as RFC 4514 text, clipped: certificates come from documents and registries."""
    try:
        return clip(cert.subject.rfc4514_string())
    except ValueError:
        return "<unreadable subject>"


def validity_problem(cert: x509.Certificate, now: datetime) -> str | None:
    """``None`` when ``now`` (timezone-aware) lies in the validity period, else why not."""
    if now < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc.isoformat()}"
    if now > cert.not_valid_after_utc:
        return f"expired on {cert.not_valid_after_utc.isoformat()}"
    return None


def clamp_into_validity(cert: x509.Certificate, now: datetime) -> datetime:
    """``now`` moved into the certificate's validity period (unchanged when already inside)."""
    return min(max(now, cert.not_valid_before_utc), cert.not_valid_after_utc)
