"""Property-based tests of the elmo value decoder: round trips and caps."""

from __future__ import annotations

import base64
import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emrex_emc.core.decode import GZIP_MAGIC, decode_elmo_value
from emrex_emc.core.errors import EmrexError
from emrex_emc.core.policy import DecodeLimits

LIMITS = DecodeLimits()
SMALL = DecodeLimits(max_encoded_bytes=4096, max_decompressed_bytes=2048, max_compression_ratio=4)
whitespace = st.text(alphabet=" \t\r\n", max_size=3)


def _sprinkle(encoded: str, cuts: list[int], spaces: list[str]) -> str:
    """Insert whitespace at the given positions (what line-wrapping encoders and form fields do)."""
    pieces, last = [], 0
    for cut, space in zip(sorted(c % (len(encoded) + 1) for c in cuts), spaces, strict=False):
        pieces += [encoded[last:cut], space]
        last = cut
    return "".join([*pieces, encoded[last:]])


@settings(max_examples=60, deadline=None)
@given(
    document=st.binary(min_size=1, max_size=2000),
    gzipped=st.booleans(),
    strip_padding=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
    spaces=st.lists(whitespace, max_size=8),
)
def test_round_trip_with_whitespace_and_without_padding(
    document: bytes, gzipped: bool, strip_padding: bool, cuts: list[int], spaces: list[str]
) -> None:
    if not gzipped and document.startswith(GZIP_MAGIC):
        document = b"<" + document
    encoded = base64.b64encode(gzip.compress(document) if gzipped else document).decode()
    if strip_padding:
        encoded = encoded.rstrip("=")
    assert decode_elmo_value(_sprinkle(encoded, cuts, spaces), LIMITS) == document


@settings(max_examples=60, deadline=None)
@given(document=st.binary(max_size=6000), gzipped=st.booleans())
def test_output_never_exceeds_the_caps(document: bytes, gzipped: bool) -> None:
    payload = base64.b64encode(gzip.compress(document) if gzipped else document)
    try:
        result = decode_elmo_value(payload, SMALL)
    except EmrexError:
        return
    assert len(payload) <= SMALL.max_encoded_bytes
    assert len(result) <= SMALL.max_decompressed_bytes


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_arbitrary_input_is_decoded_or_refused_with_a_code(value: str | bytes) -> None:
    try:
        decode_elmo_value(value, LIMITS)
    except EmrexError as exc:
        assert exc.code.value.isupper()
    except Exception as exc:  # pragma: no cover - the failure this test looks for
        pytest.fail(f"unexpected {type(exc).__name__}: {exc}")
