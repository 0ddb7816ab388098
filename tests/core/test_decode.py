from __future__ import annotations

import base64
import gzip
import zlib
from functools import cache

import pytest

from emrex_emc.core import decode
from emrex_emc.core.decode import decode_elmo_value
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.policy import DecodeLimits

XML = b'<?xml version="1.0" encoding="UTF-8"?><elmo xmlns="urn:x"><learner>Anna</learner></elmo>'
LIMITS = DecodeLimits()


def refused(value: str | bytes, limits: DecodeLimits = LIMITS) -> ErrorCode:
    with pytest.raises(EmrexError) as info:
        decode_elmo_value(value, limits)
    return info.value.code


def test_base64_of_gzip_is_the_standard_shape() -> None:
    assert decode_elmo_value(base64.b64encode(gzip.compress(XML)).decode(), LIMITS) == XML


def test_base64_of_plain_xml_is_accepted() -> None:
    assert decode_elmo_value(base64.b64encode(XML), LIMITS) == XML


def test_raw_xml_and_raw_gzip_are_accepted() -> None:
    assert decode_elmo_value(b"\n  " + XML + b"\n", LIMITS) == XML
    assert decode_elmo_value(b"\xef\xbb\xbf" + XML, LIMITS) == b"\xef\xbb\xbf" + XML
    assert decode_elmo_value(gzip.compress(XML), LIMITS) == XML


def test_raw_xml_given_as_text_is_accepted() -> None:
    assert decode_elmo_value(XML.decode() + "<!-- Ærø -->", LIMITS).endswith("<!-- Ærø -->".encode())


def test_line_breaks_and_missing_padding_are_tolerated() -> None:
    encoded = base64.b64encode(gzip.compress(XML)).decode().rstrip("=")
    wrapped = "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert decode_elmo_value(" \t" + wrapped + "\n", LIMITS) == XML


@pytest.mark.parametrize("value", ["", "   \r\n\t", b""])
def test_empty_value_is_refused(value: str | bytes) -> None:
    assert refused(value) is ErrorCode.PAYLOAD_EMPTY


def test_oversize_value_is_refused_before_decoding() -> None:
    assert refused("A" * 101, DecodeLimits(max_encoded_bytes=100)) is ErrorCode.PAYLOAD_TOO_LARGE


@pytest.mark.parametrize(
    "value",
    ["H4sI*AAA", "H4sI-_AA", "QU=JD", "QUJD===", "éèà", "QUJDR"],
    ids=["star", "urlsafe-alphabet", "padding-inside", "too-much-padding", "non-ascii", "impossible-length"],
)
def test_broken_base64_is_refused(value: str) -> None:
    assert refused(value) is ErrorCode.BASE64_INVALID


def test_truncated_gzip_is_refused() -> None:
    compressed = gzip.compress(XML * 50)
    assert refused(base64.b64encode(compressed[: len(compressed) // 2])) is ErrorCode.GZIP_INVALID


def test_corrupt_gzip_checksum_is_refused() -> None:
    compressed = bytearray(gzip.compress(XML))
    compressed[-8] ^= 0xFF  # CRC32 of the trailer
    assert refused(base64.b64encode(bytes(compressed))) is ErrorCode.GZIP_INVALID


def test_data_after_the_gzip_stream_is_refused() -> None:
    assert refused(base64.b64encode(gzip.compress(XML) + b"garbage")) is ErrorCode.GZIP_INVALID


@cache
def _zero_bomb(megabytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(compressor.compress(block) for _ in range(megabytes)) + compressor.flush()


def test_gzip_bomb_is_refused_by_its_ratio() -> None:
    assert refused(base64.b64encode(_zero_bomb(32))) is ErrorCode.COMPRESSION_RATIO_EXCEEDED


def test_decompressed_size_cap() -> None:
    limits = DecodeLimits(max_decompressed_bytes=2 * 1024 * 1024, max_compression_ratio=10**6)
    assert refused(base64.b64encode(_zero_bomb(8)), limits) is ErrorCode.DECOMPRESSED_TOO_LARGE


def test_plain_document_over_the_decompressed_cap_is_refused() -> None:
    limits = DecodeLimits(max_decompressed_bytes=10)
    assert refused(base64.b64encode(XML), limits) is ErrorCode.DECOMPRESSED_TOO_LARGE


def test_a_bomb_is_never_fully_inflated(monkeypatch: pytest.MonkeyPatch) -> None:
    produced: list[int] = []
    real = zlib.decompressobj

    class Recording:
        def __init__(self, *args: int, **kwargs: int) -> None:
            self._inner = real(*args, **kwargs)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            piece = self._inner.decompress(data, max_length)
            produced.append(len(piece))
            return piece

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

    monkeypatch.setattr(decode.zlib, "decompressobj", Recording)
    limits = DecodeLimits(max_decompressed_bytes=4 * 1024 * 1024, max_compression_ratio=10**6)
    with pytest.raises(EmrexError):
        decode_elmo_value(base64.b64encode(_zero_bomb(32)), limits)
    assert sum(produced) <= limits.max_decompressed_bytes + 256 * 1024


@pytest.mark.parametrize(
    ("value", "code"), [("<elmo>\ud800</elmo>", "ENCODING_INVALID"), ("QUJD\udfff", "BASE64_INVALID")]
)
def test_text_with_a_lone_surrogate_is_refused_not_a_crash(value: str, code: str) -> None:
    """A str value may hold lone surrogates, which cannot be encoded (UnicodeEncodeError before)."""
    with pytest.raises(EmrexError) as info:
        decode_elmo_value(value, DecodeLimits())
    assert info.value.code.value == code
