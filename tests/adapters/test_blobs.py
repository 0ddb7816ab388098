"""S3 evidence store against moto: key layout, SSE-KMS, hashes, idempotent retries, no overwrite."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest

from emrex_emc.adapters.blobs import BlobStore
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.evidence import AttachmentBlob, HashedBytes

BUCKET = "evidence-test"
TRANSFER = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def s3(mocked_aws: None) -> Any:
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_stores_evidence_results_and_attachments_encrypted_with_hashes(s3: Any) -> None:
    store = BlobStore(s3, BUCKET)
    pdf = b"%PDF-1.4 fake"
    stored = store.put_transfer_objects(
        TRANSFER,
        HashedBytes.of(b"H4sIpayload"),
        {"verified": True, "elmo": {"learner": {"family_name": "Nordmann"}}},
        [AttachmentBlob(0, "application/pdf", HashedBytes.of(pdf))],
    )

    assert stored.payload_key == f"transfers/{TRANSFER}/payload.txt"
    assert stored.results_key == f"transfers/{TRANSFER}/results.json"
    assert [a.key for a in stored.attachments] == [f"transfers/{TRANSFER}/attachments/0-{_sha(pdf)}"]
    assert stored.attachments[0].to_item() == {
        "key": f"transfers/{TRANSFER}/attachments/0-{_sha(pdf)}",
        "sha256": _sha(pdf),
        "mime_type": "application/pdf",
        "size": len(pdf),
    }
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert not any("Nordmann" in key or "Kari" in key for key in keys)
    for key in keys:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["Metadata"]["sha256"] == _sha(body)
    assert store.get_bytes(stored.payload_key) == b"H4sIpayload"
    assert json.loads(store.get_bytes(f"transfers/{TRANSFER}/results.json"))["verified"] is True
    assert stored.payload_sha256 == _sha(b"H4sIpayload")


def test_refused_payload_keeps_only_the_evidence(s3: Any) -> None:
    stored = BlobStore(s3, BUCKET).put_transfer_objects(TRANSFER, HashedBytes.of(b"not-elmo"))

    assert stored.results_key is None
    assert "results_key" not in stored.to_item()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [stored.payload_key]


def test_retry_with_the_same_payload_is_accepted(s3: Any) -> None:
    store = BlobStore(s3, BUCKET)
    attachment = AttachmentBlob(0, "application/octet-stream", HashedBytes.of(b"att"))
    first = store.put_transfer_objects(TRANSFER, HashedBytes.of(b"same"), {"a": 1}, [attachment])
    second = store.put_transfer_objects(TRANSFER, HashedBytes.of(b"same"), {"a": 1}, [attachment])

    assert first == second


def test_different_payload_never_overwrites_the_evidence(s3: Any) -> None:
    store = BlobStore(s3, BUCKET)
    store.put_transfer_objects(TRANSFER, HashedBytes.of(b"first"))

    with pytest.raises(EmrexError) as refused:
        store.put_transfer_objects(TRANSFER, HashedBytes.of(b"second"), {"a": 1})

    assert refused.value.code is ErrorCode.EVIDENCE_CONFLICT
    assert store.get_bytes(f"transfers/{TRANSFER}/payload.txt") == b"first"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"transfers/{TRANSFER}/payload.txt"]


class _Recorder:
    """A boto3 S3 stand-in that keeps the put_object arguments."""

    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs)
        return {}


def test_bytes_given_with_their_hash_are_not_hashed_again() -> None:
    s3 = _Recorder()
    payload = HashedBytes(b"H4sIpayload", "a" * 64)
    pdf = HashedBytes(b"%PDF-1.4 fake", "b" * 64)
    stored = BlobStore(s3, BUCKET).put_transfer_objects(
        TRANSFER, payload, None, [AttachmentBlob(0, "application/pdf", pdf)]
    )

    assert stored.payload_sha256 == "a" * 64
    assert stored.attachments[0].key == f"transfers/{TRANSFER}/attachments/0-{'b' * 64}"
    assert [(put["Body"], put["Metadata"]) for put in s3.puts] == [
        (b"H4sIpayload", {"sha256": "a" * 64}),
        (b"%PDF-1.4 fake", {"sha256": "b" * 64}),
    ]


def test_results_are_stored_as_canonical_json() -> None:
    assert HashedBytes.of(b"abc") == HashedBytes(b"abc", _sha(b"abc"))
    recorder = _Recorder()
    results = {"z": [1, {"b": "é", "a": None}], "a": True}
    BlobStore(recorder, BUCKET).put_transfer_objects(TRANSFER, HashedBytes.of(b"p"), results)
    assert recorder.puts[1]["Body"] == '{"a":true,"z":[1,{"a":null,"b":"é"}]}'.encode()
    assert recorder.puts[1]["ContentType"] == "application/json"
