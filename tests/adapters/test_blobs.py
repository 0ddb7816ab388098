"""S3 evidence store against moto: key layout, SSE-KMS, hashes, idempotent retries, no overwrite."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest

from emrex_emc.adapters.blobs import BlobStore, EvidenceConflictError, HashedBytes

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
        b"H4sIpayload",
        {"verified": True, "elmo": {"learner": {"family_name": "Nordmann"}}},
        [({"mime_type": "application/pdf", "title": "Diploma of Kari Nordmann"}, pdf)],
    )

    assert stored.payload_key == f"transfers/{TRANSFER}/payload.txt"
    assert stored.results_key == f"transfers/{TRANSFER}/results.json"
    assert [a.key for a in stored.attachments] == [f"transfers/{TRANSFER}/attachments/0-{_sha(pdf)}"]
    assert stored.attachments[0].to_json() == {
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
    stored = BlobStore(s3, BUCKET).put_transfer_objects(TRANSFER, b"not-elmo")

    assert stored.results_key is None
    assert "results_key" not in stored.to_json()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [stored.payload_key]


def test_retry_with_the_same_payload_is_accepted(s3: Any) -> None:
    store = BlobStore(s3, BUCKET)
    first = store.put_transfer_objects(TRANSFER, b"same", {"a": 1}, [({}, b"att")])
    second = store.put_transfer_objects(TRANSFER, b"same", {"a": 1}, [({}, b"att")])

    assert first == second
    assert first.attachments[0].mime_type == "application/octet-stream"


def test_different_payload_never_overwrites_the_evidence(s3: Any) -> None:
    store = BlobStore(s3, BUCKET)
    store.put_transfer_objects(TRANSFER, b"first")

    with pytest.raises(EvidenceConflictError):
        store.put_transfer_objects(TRANSFER, b"second", {"a": 1})

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
        TRANSFER, payload, None, [({"mime_type": "application/pdf"}, pdf)]
    )

    assert stored.payload_sha256 == "a" * 64
    assert stored.attachments[0].key == f"transfers/{TRANSFER}/attachments/0-{'b' * 64}"
    assert [(put["Body"], put["Metadata"]) for put in s3.puts] == [
        (b"H4sIpayload", {"sha256": "a" * 64}),
        (b"%PDF-1.4 fake", {"sha256": "b" * 64}),
    ]


def test_hashed_bytes_of_hashes_and_plain_bytes_store_like_hashed_bytes() -> None:
    assert HashedBytes.of(b"abc") == HashedBytes(b"abc", _sha(b"abc"))
    plain, hashed = _Recorder(), _Recorder()
    results = {"z": [1, {"b": "é", "a": None}], "a": True}
    BlobStore(plain, BUCKET).put_transfer_objects(TRANSFER, b"p", results, [({}, b"x")])
    BlobStore(hashed, BUCKET).put_transfer_objects(
        TRANSFER, HashedBytes.of(b"p"), results, [({}, HashedBytes.of(b"x"))]
    )
    assert plain.puts == hashed.puts
    assert plain.puts[1]["Body"] == '{"a":true,"z":[1,{"a":null,"b":"é"}]}'.encode()
    assert plain.puts[2]["ContentType"] == "application/octet-stream"
