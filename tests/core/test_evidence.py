"""core/evidence.py: the x-signature.json evidence reads back what was stored, and refuses anything else."""

from __future__ import annotations

import json

import pytest

from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.evidence import DetachedSignature, read_x_signature_evidence


def test_the_stored_evidence_reads_back() -> None:
    stored = canonical_json(DetachedSignature("eyJhbGciOiJSUzI1NiJ9..c2ln", b"\x30\x82key").to_json())
    jws, key = read_x_signature_evidence(stored)
    assert jws == "eyJhbGciOiJSUzI1NiJ9..c2ln"
    assert key is not None and key.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert read_x_signature_evidence(canonical_json(DetachedSignature(None, b"k").to_json()))[0] is None


@pytest.mark.parametrize(
    "data", [b"[]", b'"text"', b"{not json", b"[" * 100_000 + b"]" * 100_000, "\ud800".encode("utf-8", "surrogatepass")]
)
def test_anything_but_an_evidence_object_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        read_x_signature_evidence(data)


def test_fields_of_another_type_are_absent() -> None:
    assert read_x_signature_evidence(json.dumps({"x_signature": 7, "public_key": ["k"]})) == (None, None)
