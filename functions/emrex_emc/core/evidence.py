"""Evidence of a transfer: bytes with their hash, and where the stored objects are (the claim check).

Object keys hold the random transfer id and content hashes only, never personal data; the layout is
documented in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import base64
import hashlib
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emrex_emc.core.json_input import parse_json


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class HashedBytes:
    """Bytes with their SHA-256 (hex): hashed once per request, never again by the storage."""

    data: bytes = field(repr=False)
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> HashedBytes:
        return cls(data, sha256_hex(data))


@dataclass(frozen=True)
class AttachmentBlob:
    """One decoded attachment content to store, with the MIME type its bytes were sniffed as."""

    index: int
    mime_type: str
    content: HashedBytes


@dataclass(frozen=True)
class DetachedSignature:
    """EMREX 2.0 evidence besides the results body: the ``X-Signature`` as received and the EMP key it is
    checked with, so ``emrex-emc verify BODY --detached-jws ... --public-key ...`` can re-verify it offline."""

    x_signature: str | None
    public_key: bytes
    """DER SubjectPublicKeyInfo (the EMP's EMREG ``publicKey`` when it was chosen)."""

    def to_json(self) -> dict[str, Any]:
        armored = "\n".join(textwrap.wrap(base64.b64encode(self.public_key).decode("ascii"), 64))
        return {
            "x_signature": self.x_signature,
            "public_key": f"-----BEGIN PUBLIC KEY-----\n{armored}\n-----END PUBLIC KEY-----\n",
            "public_key_sha256": sha256_hex(self.public_key),
        }


def read_x_signature_evidence(data: str | bytes) -> tuple[str | None, str | None]:
    """A stored ``x-signature.json`` (:meth:`DetachedSignature.to_json`): its ``x_signature`` and its
    ``public_key`` PEM, each None when absent; ``ValueError`` when it is not such a JSON object."""
    evidence = parse_json(data)
    if not isinstance(evidence, dict):
        raise ValueError("x-signature evidence is not a JSON object")
    jws, key = evidence.get("x_signature"), evidence.get("public_key")
    return (jws if isinstance(jws, str) else None), (key if isinstance(key, str) else None)


@dataclass(frozen=True)
class StoredAttachment:
    """An attachment stored in S3 under a content-addressed key."""

    key: str
    sha256: str
    mime_type: str
    size: int

    def to_item(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "mime_type": self.mime_type, "size": self.size}

    @classmethod
    def from_item(cls, data: Mapping[str, Any]) -> StoredAttachment:
        return cls(str(data["key"]), str(data["sha256"]), str(data["mime_type"]), int(data["size"]))


@dataclass(frozen=True)
class StoredObjects:
    """Where a transfer's objects went: stored with the outcome and pointed to by events."""

    bucket: str
    payload_key: str
    payload_sha256: str
    results_key: str | None = None
    attachments: tuple[StoredAttachment, ...] = ()
    signature_key: str | None = None
    """EMREX 2.0: the ``X-Signature`` and the EMP's key (``transfers/{id}/x-signature.json``)."""

    def to_item(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bucket": self.bucket,
            "payload_key": self.payload_key,
            "payload_sha256": self.payload_sha256,
            "attachments": [item.to_item() for item in self.attachments],
        }
        if self.results_key is not None:
            data["results_key"] = self.results_key
        if self.signature_key is not None:
            data["signature_key"] = self.signature_key
        return data

    @classmethod
    def from_item(cls, data: Mapping[str, Any]) -> StoredObjects:
        results_key, signature_key = data.get("results_key"), data.get("signature_key")
        return cls(
            bucket=str(data["bucket"]),
            payload_key=str(data["payload_key"]),
            payload_sha256=str(data["payload_sha256"]),
            results_key=str(results_key) if results_key is not None else None,
            attachments=tuple(StoredAttachment.from_item(a) for a in data.get("attachments") or ()),
            signature_key=str(signature_key) if signature_key is not None else None,
        )
