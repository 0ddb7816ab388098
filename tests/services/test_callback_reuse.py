"""The callback does each piece of work once: hashes, the document summary; reused values only when they fit."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from emrex_emc.core.elmo.model import ElmoDocument
from emrex_emc.core.evidence import AttachmentBlob, HashedBytes
from emrex_emc.services.settle import attachment_blobs
from tests.services.test_callback_service_bytes import capture, scenario_forms

PDF = b"%PDF-1.4 fake"
DIGEST = hashlib.sha256(PDF).hexdigest()


def test_the_readers_digest_is_reused_for_the_same_size() -> None:
    reader_digest = "d" * 64  # not the real hash: proves that no second hash is computed
    [blob] = attachment_blobs([({"sha256": reader_digest, "size": len(PDF), "mime_type": "application/pdf"}, PDF)])
    assert blob == AttachmentBlob(0, "application/pdf", HashedBytes(PDF, reader_digest))


def test_content_without_a_fitting_digest_is_hashed() -> None:
    unfit = [
        {},
        {"sha256": "d" * 64},
        {"sha256": "d" * 64, "size": len(PDF) + 1},
        {"sha256": "short", "size": len(PDF)},
        {"sha256": None, "size": len(PDF)},
    ]
    blobs = attachment_blobs([(meta, PDF) for meta in unfit])
    assert [blob.content for blob in blobs] == [HashedBytes(PDF, DIGEST)] * len(unfit)
    assert [blob.index for blob in blobs] == list(range(len(unfit)))
    assert {blob.mime_type for blob in blobs} == {"application/octet-stream"}


def test_the_document_is_summarised_once_per_accepted_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = ElmoDocument.summary

    def counted(self: ElmoDocument) -> dict[str, Any]:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(ElmoDocument, "summary", counted)
    assert capture(scenario_forms()["received"])["result"]["status"] == "received"
    assert len(calls) == 1  # inside to_json(); the outcome's summary reuses it
