"""S3 evidence store: the raw posted payload, the canonical results JSON and the attachments.

Keys hold the random transfer id and content hashes only, never personal data. Every object is
SSE-KMS encrypted (the bucket's KMS key) and carries its SHA-256 in the object metadata.

Writes are idempotent: the evidence (``payload.txt``) and attachments (content-addressed) are written
with ``IfNoneMatch="*"``. An existing object with the same SHA-256 is accepted as a retry; an existing
payload with a *different* hash is never overwritten (:class:`EvidenceConflictError`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

RESULTS_CONTENT_TYPE = "application/json"
PAYLOAD_CONTENT_TYPE = "text/plain; charset=utf-8"
DEFAULT_MIME_TYPE = "application/octet-stream"


class EvidenceConflictError(Exception):
    """The evidence object for this transfer already exists with different content."""


def payload_key(transfer_id: str) -> str:
    return f"transfers/{transfer_id}/payload.txt"


def results_key(transfer_id: str) -> str:
    return f"transfers/{transfer_id}/results.json"


def attachment_key(transfer_id: str, index: int, sha256: str) -> str:
    return f"transfers/{transfer_id}/attachments/{index}-{sha256}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class HashedBytes:
    """Bytes with their SHA-256 (hex), so bytes hashed once per request are not hashed again here."""

    data: bytes = field(repr=False)
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> HashedBytes:
        return cls(data, sha256_hex(data))


def _hashed(value: bytes | HashedBytes) -> HashedBytes:
    return value if isinstance(value, HashedBytes) else HashedBytes.of(value)


def canonical_json_bytes(value: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON with sorted keys (the stored ``results.json``).

    ``check_circular=False``: the value is a fresh ``to_json()`` tree (no cycles), so the encoder's
    per-container bookkeeping is skipped; the output is the same.
    """
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), check_circular=False)
    return text.encode()


@dataclass(frozen=True)
class StoredAttachment:
    key: str
    sha256: str
    mime_type: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "mime_type": self.mime_type, "size": self.size}


@dataclass(frozen=True)
class StoredObjects:
    """Where a transfer's objects went; the claim check stored in DynamoDB and put in events."""

    bucket: str
    payload_key: str
    payload_sha256: str
    results_key: str | None = None
    attachments: tuple[StoredAttachment, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bucket": self.bucket,
            "payload_key": self.payload_key,
            "payload_sha256": self.payload_sha256,
            "attachments": [item.to_json() for item in self.attachments],
        }
        if self.results_key is not None:
            data["results_key"] = self.results_key
        return data


class BlobStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket

    def put_transfer_objects(
        self,
        transfer_id: str,
        raw_payload: bytes | HashedBytes,
        results_json: Mapping[str, Any] | None = None,
        attachments: Sequence[tuple[Mapping[str, Any], bytes | HashedBytes]] = (),
    ) -> StoredObjects:
        """Store the evidence first, then the canonical JSON and the attachments.

        ``results_json`` is None for a refused payload: only the evidence is kept. Bytes given as
        :class:`HashedBytes` are not hashed again.
        """
        payload = _hashed(raw_payload)
        key = payload_key(transfer_id)
        self._put_once(key, payload.data, payload.sha256, PAYLOAD_CONTENT_TYPE, conflict_is_error=True)
        stored_results: str | None = None
        if results_json is not None:
            stored_results = results_key(transfer_id)
            body = canonical_json_bytes(results_json)
            # Derived from the evidence written above; rewriting it on a retry is harmless.
            self._put(stored_results, body, sha256_hex(body), RESULTS_CONTENT_TYPE)
        stored_attachments = tuple(
            self._put_attachment(transfer_id, index, metadata, content)
            for index, (metadata, content) in enumerate(attachments)
        )
        return StoredObjects(
            bucket=self.bucket,
            payload_key=key,
            payload_sha256=payload.sha256,
            results_key=stored_results,
            attachments=stored_attachments,
        )

    def get_bytes(self, key: str) -> bytes:
        response = self._s3.get_object(Bucket=self.bucket, Key=key)
        data: bytes = response["Body"].read()
        return data

    def _put_attachment(
        self, transfer_id: str, index: int, metadata: Mapping[str, Any], content: bytes | HashedBytes
    ) -> StoredAttachment:
        hashed = _hashed(content)
        mime_type = str(metadata.get("mime_type") or DEFAULT_MIME_TYPE)
        key = attachment_key(transfer_id, index, hashed.sha256)
        self._put_once(key, hashed.data, hashed.sha256, mime_type, conflict_is_error=False)
        return StoredAttachment(key=key, sha256=hashed.sha256, mime_type=mime_type, size=len(hashed.data))

    def _put_once(self, key: str, body: bytes, digest: str, content_type: str, *, conflict_is_error: bool) -> None:
        try:
            self._put(key, body, digest, content_type, IfNoneMatch="*")
        except ClientError as exc:
            if _error_code(exc) not in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                raise
            if not conflict_is_error:
                return  # content-addressed key: the same bytes are already there
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
            if head.get("Metadata", {}).get("sha256") != digest:
                raise EvidenceConflictError(f"{key} already holds different content") from exc

    def _put(self, key: str, body: bytes, digest: str, content_type: str, **extra: str) -> None:
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="aws:kms",
            Metadata={"sha256": digest},
            **extra,
        )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
