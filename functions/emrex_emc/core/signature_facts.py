"""What an accepted XML signature looked like: algorithms and the registry certificate that verified it.

Kept apart from :mod:`emrex_emc.core.signature` (which needs lxml and signxml) because outcomes carry
these facts and are read by functions that never verify a document.
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
