"""S3 evidence store: the raw payload (EMREX 1: the posted ``elmo`` value; EMREX 2.0: the results body as
received, with its ``X-Signature`` and the EMP's key beside it), the canonical results JSON and the attachments.

Keys hold the random transfer id and content hashes only, never personal data. Every object is
SSE-KMS encrypted (the bucket's KMS key) and carries its SHA-256 in the object metadata.

Writes are idempotent: the evidence (``payload.txt``) and attachments (content-addressed) are written
with ``IfNoneMatch="*"``. An existing object with the same SHA-256 is accepted as a retry; an existing
payload with a *different* hash is never overwritten (``EmrexError`` ``EVIDENCE_CONFLICT``).

Deletion is for erasure only: :func:`delete_every_version` removes every object version and delete marker under
a transfer's prefix (the bucket is versioned: a plain delete would only hide them). The callback, which parses
the most hostile input, writes evidence through :class:`BlobStore` but can never delete any.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from emrex_emc.adapters.dynamodb import NETWORK_ERRORS, error_code
from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.evidence import (
    AttachmentBlob,
    DetachedSignature,
    HashedBytes,
    StoredAttachment,
    StoredObjects,
    sha256_hex,
)

RESULTS_CONTENT_TYPE = "application/json"
PAYLOAD_CONTENT_TYPE = "text/plain; charset=utf-8"
_TRANSIENT_S3_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})
_DELETE_BATCH = 1000
"""DeleteObjects takes at most 1,000 keys."""


def transfer_prefix(transfer_id: str) -> str:
    return f"transfers/{transfer_id}/"


def payload_key(transfer_id: str) -> str:
    return f"{transfer_prefix(transfer_id)}payload.txt"


def signature_key(transfer_id: str) -> str:
    return f"{transfer_prefix(transfer_id)}x-signature.json"


def results_key(transfer_id: str) -> str:
    return f"{transfer_prefix(transfer_id)}results.json"


def attachment_key(transfer_id: str, index: int, sha256: str) -> str:
    return f"{transfer_prefix(transfer_id)}attachments/{index}-{sha256}"


class BlobStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket

    def put_transfer_objects(
        self,
        transfer_id: str,
        payload: HashedBytes,
        results: Mapping[str, Any] | None = None,
        attachments: Sequence[AttachmentBlob] = (),
        signature: DetachedSignature | None = None,
    ) -> StoredObjects:
        """Store the evidence first, then the canonical results JSON and the attachments.

        ``results`` is None for a refused payload: only the evidence is kept. ``signature`` (EMREX 2.0) is
        evidence too: written once, like the payload.
        """
        with _unavailable_when_unreachable():
            stored = self._put_all(transfer_id, payload, results, attachments)
            if signature is None:
                return stored
            key, body = signature_key(transfer_id), canonical_json(signature.to_json())
            self._put_once(key, body, sha256_hex(body), RESULTS_CONTENT_TYPE, conflict_is_error=True)
            return replace(stored, signature_key=key)

    def get_bytes(self, key: str) -> bytes:
        response = self._s3.get_object(Bucket=self.bucket, Key=key)
        data: bytes = response["Body"].read()
        return data

    def _put_all(
        self,
        transfer_id: str,
        payload: HashedBytes,
        results: Mapping[str, Any] | None,
        attachments: Sequence[AttachmentBlob],
    ) -> StoredObjects:
        key = payload_key(transfer_id)
        self._put_once(key, payload.data, payload.sha256, PAYLOAD_CONTENT_TYPE, conflict_is_error=True)
        stored_results: str | None = None
        if results is not None:
            stored_results = results_key(transfer_id)
            body = canonical_json(results)
            # Derived from the evidence written above; rewriting it on a retry is harmless.
            self._put(stored_results, body, sha256_hex(body), RESULTS_CONTENT_TYPE)
        return StoredObjects(
            bucket=self.bucket,
            payload_key=key,
            payload_sha256=payload.sha256,
            results_key=stored_results,
            attachments=tuple(self._put_attachment(transfer_id, blob) for blob in attachments),
        )

    def _put_attachment(self, transfer_id: str, blob: AttachmentBlob) -> StoredAttachment:
        content = blob.content
        key = attachment_key(transfer_id, blob.index, content.sha256)
        self._put_once(key, content.data, content.sha256, blob.mime_type, conflict_is_error=False)
        return StoredAttachment(key=key, sha256=content.sha256, mime_type=blob.mime_type, size=len(content.data))

    def _put_once(self, key: str, body: bytes, digest: str, content_type: str, *, conflict_is_error: bool) -> None:
        try:
            self._put(key, body, digest, content_type, IfNoneMatch="*")
        except ClientError as exc:
            if error_code(exc) not in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                raise
            if not conflict_is_error:
                return  # content-addressed key: the same bytes are already there
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
            if head.get("Metadata", {}).get("sha256") != digest:
                raise EmrexError(
                    ErrorCode.EVIDENCE_CONFLICT, "different evidence for this transfer is already stored"
                ) from exc

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


def delete_every_version(s3: Any, bucket: str, prefix: str) -> None:
    """Delete every object version and delete marker under ``prefix``, in batches."""
    batch: list[dict[str, str]] = []
    for version in _versions(s3, bucket, prefix):
        batch.append(version)
        if len(batch) == _DELETE_BATCH:
            _delete_batch(s3, bucket, batch)
            batch = []
    if batch:
        _delete_batch(s3, bucket, batch)


def _versions(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, str]]:
    """Every object version and delete marker under ``prefix`` (all pages)."""
    request: dict[str, str] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3.list_object_versions(**request)
        for entry in (*page.get("Versions", []), *page.get("DeleteMarkers", [])):
            yield {"Key": entry["Key"], "VersionId": entry["VersionId"]}
        if not page.get("IsTruncated"):
            return
        request.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])


def _delete_batch(s3: Any, bucket: str, batch: list[dict[str, str]]) -> None:
    response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    errors = response.get("Errors") or []
    if errors:
        codes = ", ".join(sorted({str(error.get("Code")) for error in errors}))
        raise EmrexError(ErrorCode.STORAGE_UNAVAILABLE, f"{len(errors)} evidence object(s) not deleted ({codes})")


@contextmanager
def _unavailable_when_unreachable() -> Iterator[None]:
    """Throttling, S3 errors and network failures become ``STORAGE_UNAVAILABLE`` (the caller may retry)."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in _TRANSIENT_S3_CODES:
            raise _unavailable() from exc
        raise
    except NETWORK_ERRORS as exc:
        raise _unavailable() from exc


def _unavailable() -> EmrexError:
    return EmrexError(ErrorCode.STORAGE_UNAVAILABLE, "the evidence bucket could not be reached; nothing was stored")
