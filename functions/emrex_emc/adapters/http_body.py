"""An HTTP answer's body read within a cap: refused on its declared length, else as soon as the bytes received
or the bytes they decompress to pass the cap (registries and EMPs are outside parties; neither may make us hold
more than the cap).

The body is read raw and decoded here, not by httpx: httpx inflates each chunk without a limit (and stacks
``Content-Encoding: gzip, gzip``), so a few hundred bytes could become gigabytes before any cap is checked.
Identity, ``gzip`` (one member) and ``deflate`` (zlib-wrapped, as RFC 9110 defines it; one layer) are decoded
with a bounded inflater; any other encoding is refused. :data:`ACCEPT_ENCODING` asks for gzip only: servers
that answer ``deflate`` with a raw stream (no zlib wrapper, which some still do) are never invited to.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import httpx

from emrex_emc.core.errors import EmrexError
from emrex_emc.core.text import clip

ACCEPT_ENCODING = "gzip"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + zlib.MAX_WBITS}
"""zlib window bits per encoding: gzip framing, or (deflate) zlib framing detected from the header."""


def read_capped(
    response: httpx.Response,
    max_bytes: int,
    too_large: Callable[[str | None], EmrexError],
    *,
    undecodable: Callable[[str], EmrexError],
    after_each_chunk: Callable[[], None] = lambda: None,
) -> bytes:
    """The decoded body of a streamed ``response``.

    ``too_large`` makes the refusal, given the declared length (digits, as h11 lets through) or None once the
    bytes received or decoded passed the cap; ``undecodable`` makes it, given the reason, for an encoding we
    do not decode or a body that does not decode; ``after_each_chunk`` may raise too (e.g. past a deadline).
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(declared)
    decoder = _decoder(response.headers.get("content-encoding", ""), undecodable)
    chunks: list[bytes] = []
    received = decoded = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > max_bytes:
            raise too_large(None)
        after_each_chunk()
        for part in _inflate(decoder, chunk, max_bytes - decoded, undecodable) if decoder else (chunk,):
            decoded += len(part)
            if decoded > max_bytes:
                raise too_large(None)
            chunks.append(part)
    if decoder is not None and received:  # no body at all (a 204, an empty error answer) is empty, encoded or not
        _check_complete(decoder, undecodable)
    return b"".join(chunks)


def _decoder(encoding: str, undecodable: Callable[[str], EmrexError]) -> zlib._Decompress | None:
    name = encoding.strip().lower()
    if name in {"", "identity"}:
        return None
    if name not in _WBITS:
        raise undecodable(f"the answer's content encoding {clip(name, 40)!r} is not one we decode")
    return zlib.decompressobj(_WBITS[name])


def _inflate(
    decoder: zlib._Decompress, data: bytes, room: int, undecodable: Callable[[str], EmrexError]
) -> list[bytes]:
    """What ``data`` inflates to, stopping one byte past ``room`` (the caller refuses that)."""
    if decoder.eof and data:  # the compressed body ended in an earlier chunk (also a second gzip member)
        raise undecodable("the answer has data after its compressed body")
    parts: list[bytes] = []
    try:
        while data and room >= 0 and not decoder.eof:
            part = decoder.decompress(data, room + 1)
            parts.append(part)
            room -= len(part)
            data = decoder.unconsumed_tail
    except zlib.error:
        raise undecodable("the answer's compressed body is corrupt") from None
    if decoder.eof and decoder.unused_data:
        raise undecodable("the answer has data after its compressed body")
    return parts


def _check_complete(decoder: zlib._Decompress, undecodable: Callable[[str], EmrexError]) -> None:
    if not decoder.eof:
        raise undecodable("the answer's compressed body is cut short")
