"""What an accepted signature looked like: an enveloped XML signature (EMREX 1: algorithms and the registry
certificate that verified it) or a detached JWS over the results body (EMREX 2.0: RS256 and the EMP's key).

Kept apart from :mod:`emrex_emc.core.signature` and :mod:`emrex_emc.core.jws` (which need lxml, signxml and
cryptography) because outcomes carry these facts and are read by functions that never verify a document.
Both render with a ``format`` (``xmldsig`` or ``jws``), which is how a stored outcome tells them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emrex_emc.core.errors import Notice

SIGNATURE_METHOD_NAMES: dict[str, str] = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": "rsa-sha1",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": "rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": "rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": "rsa-sha512",
}
"""The signature methods we accept, by URI."""
DIGEST_METHOD_NAMES: dict[str, str] = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
C14N_METHOD_NAMES: dict[str, str] = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": "c14n",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": "c14n-with-comments",
    "http://www.w3.org/2001/10/xml-exc-c14n#": "exc-c14n",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": "exc-c14n-with-comments",
}


@dataclass(frozen=True)
class SignatureFacts:
    """An accepted signature; the URIs are always among the accepted ones above."""

    signature_algorithm: str
    digest_algorithm: str
    c14n_method: str
    certificate_sha256: str
    certificate_subject: str
    certificate_not_before: datetime
    certificate_not_after: datetime
    sha1: bool
    notices: tuple[Notice, ...] = field(default=())

    @property
    def algorithm(self) -> str:
        """Short name, e.g. ``rsa-sha256`` (metrics, audit, summaries)."""
        return SIGNATURE_METHOD_NAMES[self.signature_algorithm]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "xmldsig",
            "algorithm": self.algorithm,
            "algorithm_uri": self.signature_algorithm,
            "digest": DIGEST_METHOD_NAMES[self.digest_algorithm],
            "digest_uri": self.digest_algorithm,
            "c14n": C14N_METHOD_NAMES[self.c14n_method],
            "c14n_uri": self.c14n_method,
            "sha1": self.sha1,
            "certificate": {
                "sha256": self.certificate_sha256,
                "subject": self.certificate_subject,
                "not_before": self.certificate_not_before.isoformat(),
                "not_after": self.certificate_not_after.isoformat(),
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignatureFacts:
        certificate = data["certificate"]
        return cls(
            signature_algorithm=str(data["algorithm_uri"]),
            digest_algorithm=str(data["digest_uri"]),
            c14n_method=str(data["c14n_uri"]),
            certificate_sha256=str(certificate["sha256"]),
            certificate_subject=str(certificate["subject"]),
            certificate_not_before=datetime.fromisoformat(str(certificate["not_before"])),
            certificate_not_after=datetime.fromisoformat(str(certificate["not_after"])),
            sha1=bool(data["sha1"]),
        )


@dataclass(frozen=True)
class JwsFacts:
    """An accepted detached JWS over EMREX 2.0 results, and what became of the XML signature inside them."""

    algorithm: str
    """``RS256`` (the only one accepted)."""
    public_key_sha256: str
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo that verified it (the EMP's EMREG ``publicKey``)."""
    key_id: str | None = None
    """The JWS header's ``kid``, when the EMP sent one (informative: EMREG gives one key per EMP)."""
    enveloped: SignatureFacts | None = None
    """The enveloped XML signature inside the results, when a certificate of the EMP was known to check it."""

    @property
    def sha1(self) -> bool:
        """RS256 uses SHA-256: only an enveloped XML signature inside can still rest on SHA-1."""
        return self.enveloped.sha1 if self.enveloped is not None else False

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "jws",
            "algorithm": self.algorithm,
            "public_key_sha256": self.public_key_sha256,
            "key_id": self.key_id,
            "enveloped": self.enveloped.to_json() if self.enveloped is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JwsFacts:
        enveloped = data.get("enveloped")
        key_id = data.get("key_id")
        return cls(
            algorithm=str(data["algorithm"]),
            public_key_sha256=str(data["public_key_sha256"]),
            key_id=str(key_id) if key_id is not None else None,
            enveloped=SignatureFacts.from_json(enveloped) if isinstance(enveloped, Mapping) else None,
        )


ResultSignature = SignatureFacts | JwsFacts
"""What made a received document trustworthy: its XML signature (EMREX 1) or the detached JWS (EMREX 2.0)."""


def signature_from_json(data: Mapping[str, Any]) -> ResultSignature:
    """A stored signature; outcomes stored before ``format`` existed are XML signatures."""
    return JwsFacts.from_json(data) if data.get("format") == "jws" else SignatureFacts.from_json(data)
