"""The reader's output on every corpus document equals the frozen output of the reference reader.

``reader_expected.json`` holds, per document of :mod:`tests.core.elmo.reader_corpus`, the SHA-256 of the
canonical JSON (notices included) or the error, as produced by the straightforward element-walking
reader before the fast reader replaced it (commit "tests: freeze the ELMO reader's outputs"). A change
of the reader's behaviour must show up here; regenerate the file only for an intended change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.elmo.conftest import SHARED_ELMO
from tests.core.elmo.reader_corpus import all_documents, outcome

EXPECTED: dict[str, str] = json.loads((Path(__file__).parent / "reader_expected.json").read_text(encoding="utf-8"))
DOCUMENTS = all_documents()


def test_the_corpus_and_the_frozen_outputs_name_the_same_documents() -> None:
    assert sorted(DOCUMENTS) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reader_output_is_unchanged(name: str) -> None:
    if name.startswith("shared/") and not SHARED_ELMO.is_dir():
        pytest.skip(f"shared ELMO data not found at {SHARED_ELMO}")
    assert outcome(DOCUMENTS[name]()) == EXPECTED[name]
