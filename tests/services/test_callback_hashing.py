"""The callback hashes each payload once: the reader's attachment digests are reused only when they fit."""

from __future__ import annotations

import hashlib

from emrex_emc.adapters.blobs import HashedBytes
from emrex_emc.services.callback import _hashed_attachments

PDF = b"%PDF-1.4 fake"
DIGEST = hashlib.sha256(PDF).hexdigest()


def test_the_readers_digest_is_reused_for_the_same_size() -> None:
    reader_digest = "d" * 64  # not the real hash: proves that no second hash is computed
    [(meta, hashed)] = _hashed_attachments([({"sha256": reader_digest, "size": len(PDF)}, PDF)])
    assert hashed == HashedBytes(PDF, reader_digest)
    assert meta == {"sha256": reader_digest, "size": len(PDF)}


def test_content_without_a_fitting_digest_is_hashed() -> None:
    unfit = [
        {},
        {"sha256": "d" * 64},
        {"sha256": "d" * 64, "size": len(PDF) + 1},
        {"sha256": "short", "size": len(PDF)},
        {"sha256": None, "size": len(PDF)},
    ]
    hashed = _hashed_attachments([(meta, PDF) for meta in unfit])
    assert [item for _, item in hashed] == [HashedBytes(PDF, DIGEST)] * len(unfit)
