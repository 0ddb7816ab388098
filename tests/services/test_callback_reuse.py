"""The callback does each piece of work once: hashes, the document summary; reused values only when they fit."""

from __future__ import annotations

import pytest

from emrex_emc.core.elmo import model
from emrex_emc.core.elmo.model import AttachmentContent, ElmoDocument
from emrex_emc.core.elmo.summary import summarize
from emrex_emc.core.evidence import AttachmentBlob, HashedBytes
from emrex_emc.core.outcome import ResultSummary
from emrex_emc.services.settle import attachment_blobs
from tests.services.test_callback_service_bytes import capture, scenario_forms

PDF = b"%PDF-1.4 fake"


def test_the_readers_digest_is_reused() -> None:
    reader_digest = "d" * 64  # not the real hash: proves that no second hash is computed
    content = AttachmentContent(0, "application/pdf", None, "base64", len(PDF), reader_digest, data=PDF)
    [blob] = attachment_blobs([content])
    assert blob == AttachmentBlob(0, "application/pdf", HashedBytes(PDF, reader_digest))


def test_the_document_is_summarised_once_per_accepted_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def counted(document: ElmoDocument) -> ResultSummary:
        calls.append(1)
        return summarize(document)

    monkeypatch.setattr(model, "summarize", counted)
    assert capture(scenario_forms()["received"])["result"]["status"] == "received"
    assert len(calls) == 1  # for the results JSON; the outcome reuses it
