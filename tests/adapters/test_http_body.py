"""The capped body reader on its own, chunk by chunk: what the registry and EMP adapters build on."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator, Sequence

import httpx
import pytest

from emrex_emc.adapters.http_body import read_capped
from emrex_emc.core.errors import EmrexError, ErrorCode

DOCUMENT = b"<elmo>" + b"<report/>" * 200 + b"</elmo>"


def too_large(declared: str | None) -> EmrexError:
    return EmrexError(ErrorCode.PAYLOAD_TOO_LARGE, f"too large ({declared})")


def undecodable(reason: str) -> EmrexError:
    return EmrexError(ErrorCode.EMP_RESPONSE_INVALID, reason)


def read(chunks: Sequence[bytes], encoding: str | None, cap: int = 64 * 1024) -> bytes:
    def stream() -> Iterator[bytes]:
        yield from chunks

    headers = {"content-encoding": encoding} if encoding else {}
    return read_capped(httpx.Response(200, headers=headers, content=stream()), cap, too_large, undecodable=undecodable)


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize(("encoding", "encode"), [("gzip", gzip.compress), ("deflate", zlib.compress), (None, bytes)])
def test_any_chunking_decodes_to_the_same_body(
    size: int, encoding: str | None, encode: Callable[[bytes], bytes]
) -> None:
    assert read(pieces(encode(DOCUMENT), size), encoding) == DOCUMENT


@pytest.mark.parametrize("split", [None, "at-the-member-boundary"])
def test_data_after_the_compressed_body_is_refused_wherever_the_chunks_end(split: str | None) -> None:
    first, second = gzip.compress(DOCUMENT), gzip.compress(b"<more/>")
    chunks = [first, second] if split else [first + second]  # a second gzip member, in the same or the next chunk
    with pytest.raises(EmrexError, match="data after its compressed body"):
        read(chunks, "gzip")


def test_exactly_the_cap_passes_and_one_byte_more_is_refused() -> None:
    body = gzip.compress(DOCUMENT)
    assert read(pieces(body, 3), "gzip", cap=len(DOCUMENT)) == DOCUMENT
    with pytest.raises(EmrexError) as caught:
        read(pieces(body, 3), "gzip", cap=len(DOCUMENT) - 1)
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE


@pytest.mark.parametrize("encoding", ["gzip", "deflate", None])
def test_no_body_at_all_is_empty_whatever_the_encoding(encoding: str | None) -> None:
    assert read([], encoding) == b""


def test_raw_deflate_without_its_zlib_wrapper_is_refused() -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = raw.compress(DOCUMENT) + raw.flush()
    with pytest.raises(EmrexError, match="corrupt"):
        read([body], "deflate")
