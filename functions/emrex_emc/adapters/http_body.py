"""An HTTP answer's body read within a cap: refused on its declared length, else as soon as the bytes received
pass the cap (registries and EMPs are outside parties; neither may make us hold more than the cap)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from emrex_emc.core.errors import EmrexError


def read_capped(
    response: httpx.Response,
    max_bytes: int,
    too_large: Callable[[str | None], EmrexError],
    *,
    after_each_chunk: Callable[[], None] = lambda: None,
) -> bytes:
    """The body of a streamed ``response``. ``too_large`` makes the refusal, given the declared length (digits,
    as h11 lets through) or None once the received bytes passed the cap; ``after_each_chunk`` may raise too
    (e.g. past a deadline)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(declared)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise too_large(None)
        after_each_chunk()
        chunks.append(chunk)
    return b"".join(chunks)
