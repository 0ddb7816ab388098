"""EMREX 2.0's flow cookies: bind the EMP's redirect back to the browser that chose the EMP (RFC 9700 §2.1).

One cookie per transfer, named after it (``__Host-emrex_flow_<first 12 characters of the transfer id>``), so
two transfers started in one browser never overwrite each other's. Set with the answer to an EMREX 2.0 choice,
read by the callback; the state carries its hash. ``__Host-``, ``Secure``, ``HttpOnly``, ``SameSite=Lax``
(sent with the EMP's top-level redirect back, a GET, and nothing cross-site else); over plain http (local
mode) ``emrex_flow_<…>`` without the prefix and ``Secure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from emrex_emc.core.emrex2 import FlowCookies

FLOW_COOKIE_SECURE = "__Host-emrex_flow_"
FLOW_COOKIE_PLAIN = "emrex_flow_"


def _prefix(base_url: str) -> str:
    return FLOW_COOKIE_SECURE if urlsplit(base_url).scheme == "https" else FLOW_COOKIE_PLAIN


def flow_cookie_header(base_url: str, transfer_id: str, value: str, max_age: int) -> str:
    from emrex_emc.core.emrex2 import flow_cookie_suffix  # EMREX 2.0 only: not at a handler's cold start

    secure = "; Secure" if urlsplit(base_url).scheme == "https" else ""
    name = _prefix(base_url) + flow_cookie_suffix(transfer_id)
    return f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


def flow_cookies(cookies: Mapping[str, str], base_url: str) -> FlowCookies:
    """This browser's flow cookies by suffix (bounded); the service picks the one the verified state names."""
    from emrex_emc.core.emrex2 import FlowCookies

    prefix = _prefix(base_url)
    return FlowCookies.of((name[len(prefix) :], value) for name, value in cookies.items() if name.startswith(prefix))
