"""Form parsing of callback bodies: identical to the standard library, including the fast path."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emrex_emc.web import http
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


@given(st.text(alphabet="%%%2BbFfDd3a9gG=\r\n +_é\x00", max_size=24))
def test_value_unquoting_matches_the_standard_library(value: str) -> None:
    assert http._unquote_plus(value) == unquote_plus(value)


def test_a_base64_value_is_decoded_without_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = base64.b64encode(bytes(range(256)) * 20).decode() + "=="
    escaped = urlencode({"elmo": payload}).partition("=")[2]
    assert {"%2B", "%2F", "%3D"} <= {escaped[i : i + 3] for i in range(len(escaped)) if escaped[i] == "%"}
    monkeypatch.setattr(http, "unquote", _refuse_slow_path)
    assert http._unquote_plus(escaped) == payload
    lower = escaped.replace("%2B", "%2b").replace("%2F", "%2f").replace("%3D", "%3d")
    assert http._unquote_plus(lower) == payload


FAST_VALUES = ("%C3%A9%2B", "%c3%28", "%3D%3D", "ab%2Fc%3d%3D", "%E2%82%3D")
"""Well-formed escapes (valid UTF-8 or not, escaped padding at the end): decoded without ``unquote``."""


@pytest.mark.parametrize(
    "value",
    [
        *("abc%zz", "abc%4", "abc%", "abc%%41", "a%%%3D", "a%%3D", "abc%3%3D", "a%3Db", "a=%41", "a%41\r\n%", "é%41"),
        *FAST_VALUES,
    ],
)
def test_only_odd_values_take_the_standard_library_path(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fallback: list[str] = []

    def spy(text: str) -> str:
        fallback.append(text)
        return unquote(text)

    monkeypatch.setattr(http, "unquote", spy)
    assert http._unquote_plus(value) == unquote_plus(value)
    assert fallback == ([] if value in FAST_VALUES else [value])


def test_exactly_the_field_limit_is_accepted() -> None:
    assert parse("a=1&b=2&c=3", max_fields=3) == {"a": "1", "b": "2", "c": "3"}
    with pytest.raises(ValueError, match="more than 3 fields"):
        parse("a=1&b=2&c=3&", max_fields=3)


def _refuse_slow_path(text: str) -> str:
    raise AssertionError(f"urllib.parse.unquote was used for {text[:20]!r}")


def test_lone_surrogates_from_the_event_become_replacement_characters() -> None:
    """API Gateway's JSON may carry ``"\\ud800"``: such a value cannot be encoded, so it never reaches the code."""
    event = {
        "routeKey": "GET /start/{id}",
        "rawPath": "/start/\ud800",
        "headers": {"Authorization": "Bearer \ud800", "x-\udfff": "ok", "accept-language": "el, é"},
        "queryStringParameters": {"state": "k1.\ud800.x", "q": "Καλημέρα 😀"},
        "pathParameters": {"id": "\udbff"},
        "cookies": ["__Host-emrex_csrf=\ud800abc"],
        "requestContext": {"http": {"method": "GET"}},
    }
    request = HttpRequest.from_apigw(event)
    values = [request.path, *request.headers, *request.headers.values(), *request.query.values()]
    values += [*request.path_params.values(), *request.cookies.values()]
    for value in values:
        value.encode("utf-8")  # raised UnicodeEncodeError before
    assert request.headers["authorization"] == "Bearer \ufffd\ufffd\ufffd"
    assert request.query["q"] == "Καλημέρα 😀" and request.headers["accept-language"] == "el, é"
    assert request.cookies["__Host-emrex_csrf"].endswith("abc")
