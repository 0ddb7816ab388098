"""EMREX 2.0's flow cookie: binds the EMP's redirect back to the browser that chose the EMP (RFC 9700 §2.1).

Set with the answer to an EMREX 2.0 choice, read by the callback; the state carries its hash. ``__Host-``,
``Secure``, ``HttpOnly``, ``SameSite=Lax`` (sent with the EMP's top-level redirect back, a GET, and nothing
cross-site else); over plain http (local mode) without the prefix and ``Secure``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

FLOW_COOKIE_SECURE = "__Host-emrex_flow"
FLOW_COOKIE_PLAIN = "emrex_flow"


def flow_cookie_name(base_url: str) -> str:
    return FLOW_COOKIE_SECURE if urlsplit(base_url).scheme == "https" else FLOW_COOKIE_PLAIN


def flow_cookie_header(base_url: str, value: str, max_age: int) -> str:
    secure = "; Secure" if urlsplit(base_url).scheme == "https" else ""
    return f"{flow_cookie_name(base_url)}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
