"""The callback does each piece of work once: hashes, the document summary; reused values only when they fit."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import pytest

from emrex_emc.adapters.blobs import HashedBytes
from emrex_emc.core.elmo.model import ElmoDocument
from emrex_emc.services.callback import _hashed_attachments, _plain
from tests.services.test_callback_service_bytes import capture, scenario_forms

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


def test_the_document_is_summarised_once_per_accepted_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = ElmoDocument.summary

    def counted(self: ElmoDocument) -> dict[str, Any]:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(ElmoDocument, "summary", counted)
    assert capture(scenario_forms()["received"])["result"]["status"] == "received"
    assert len(calls) == 1  # inside to_json(); the outcome's summary reuses it


class Kind(StrEnum):
    A = "a"


def test_plain_copies_json_values_and_stringifies_the_rest() -> None:
    value = {
        "t": (1, Decimal("1.5"), {"n": None, 2: True}),
        "l": [1.25, "s", Kind.A],
        "m": MappingProxyType({"x": (Decimal("2"),)}),
    }
    plain = _plain(value)
    assert plain == {"t": [1, "1.5", {"n": None, "2": True}], "l": [1.25, "s", "a"], "m": {"x": ["2"]}}
    assert type(plain["l"][2]) is Kind  # str subclasses pass through unchanged, as before
    inner = {"a": [1]}
    copied = _plain({"inner": inner})
    assert copied["inner"] == inner and copied["inner"] is not inner


def test_a_given_document_summary_gives_the_same_overview() -> None:
    from tests.services.test_callback_service_bytes import verify_frozen_ok

    verified = verify_frozen_ok()
    given = verified.to_json()["elmo"]["summary"]
    assert verified.summary(given) == verified.summary()
    assert verified.summary({"course_count": -1})["course_count"] == -1  # really taken from the argument
