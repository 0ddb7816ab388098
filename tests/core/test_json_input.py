from __future__ import annotations

import json

import pytest

from emrex_emc.core.json_input import NESTED_TOO_DEEPLY, parse_json

DEEP = "[" * 100_000 + "]" * 100_000


def test_deep_nesting_is_a_value_error_not_a_recursion_error() -> None:
    with pytest.raises(RecursionError):
        json.loads(DEEP)  # what the standard parser does with 200 KB of brackets
    with pytest.raises(ValueError, match=NESTED_TOO_DEEPLY):
        parse_json(DEEP)


def test_ordinary_json_and_malformed_json_behave_as_json_loads() -> None:
    assert parse_json('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    assert parse_json(b'{"a": 1}') == {"a": 1}
    with pytest.raises(json.JSONDecodeError):
        parse_json("{")

    def refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise ValueError("duplicate member")
        return dict(pairs)

    with pytest.raises(ValueError, match="duplicate"):
        parse_json('{"a": 1, "a": 2}', object_pairs_hook=refuse_duplicates)
