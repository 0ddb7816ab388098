"""Form parsing of callback bodies: identical to the standard library, including the fast path."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emrex_emc.web.http import HttpRequest


def parse(body: str | bytes, max_fields: int = 50) -> dict[str, str]:
    raw = body.encode() if isinstance(body, str) else body
    return HttpRequest(method="POST", path="/callback", body=raw).form(max_fields=max_fields)


def reference(body: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


@given(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=40), max_size=8))
def test_round_trips_like_the_standard_library(fields: dict[str, str]) -> None:
    body = urlencode(fields)
    assert parse(body) == reference(body) == fields


@given(st.text(alphabet="%2BbFfDd3=+&a-z0_", max_size=40))
def test_odd_escapes_match_the_standard_library(body: str) -> None:
    assert parse(body) == reference(body)


def test_a_base64_elmo_value_is_decoded_exactly() -> None:
    payload = base64.b64encode(bytes(range(256)) * 50).decode()
    body = urlencode({"sessionId": "abc", "returnCode": "NCP_OK", "elmo": payload, "returnMessage": "a b"})
    assert parse(body) == {"sessionId": "abc", "returnCode": "NCP_OK", "elmo": payload, "returnMessage": "a b"}


def test_the_first_value_wins_and_blank_values_are_kept() -> None:
    assert parse("a=1&a=2&b=&c") == {"a": "1", "b": "", "c": ""}


def test_too_many_fields_and_non_utf8_are_refused() -> None:
    with pytest.raises(ValueError, match="more than 3 fields"):
        parse("a=1&b=2&c=3&d=4", max_fields=3)
    with pytest.raises(UnicodeDecodeError):
        parse(b"elmo=\xff\xfe")
