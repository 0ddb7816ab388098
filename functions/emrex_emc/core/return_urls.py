"""The ``return_url`` allow-list: where a student may be sent back to, so we are never an open redirect.

A URL is allowed when its parsed scheme, host and effective port equal those of an allowed prefix and its
path continues the prefix's path by whole segments: ``https://uni.example.evil.com`` does not match
``https://uni.example``, and ``/enrolment`` does not match ``/enrol``. Anything a browser or server might
read differently from us is refused outright: credentials, backslashes, whitespace and control
characters, non-ASCII characters (fullwidth dots and slashes; IDN hosts must be given in punycode),
dot segments, percent-encoded dots, slashes and backslashes, and ``;`` path parameters.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
_AMBIGUOUS_PATH = re.compile(r"%(?:2e|2f|5c)|;", re.IGNORECASE)


def return_url_allowed(url: str, allowed: Iterable[str], *, local_mode: bool) -> bool:
    """Whether ``url`` falls under one of the ``allowed`` URL prefixes (or is loopback in local mode)."""
    candidate = _safe_split(url)
    if candidate is None:
        return False
    if local_mode and is_loopback_host(candidate.hostname):
        return True
    return any(_matches(candidate, prefix) for prefix in allowed)


def _safe_split(url: str) -> SplitResult | None:
    if not url.isascii() or not url.isprintable() or any(ch in url for ch in "\\ "):
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    if _AMBIGUOUS_PATH.search(parts.path) or any(segment in {".", ".."} for segment in parts.path.split("/")):
        return None
    return parts


def _effective_port(parts: SplitResult) -> int:
    return parts.port or _DEFAULT_PORTS[parts.scheme]


def _matches(candidate: SplitResult, prefix: str) -> bool:
    allowed = _safe_split(prefix)
    if allowed is None:
        return False
    if (candidate.scheme, candidate.hostname, _effective_port(candidate)) != (
        allowed.scheme,
        allowed.hostname,
        _effective_port(allowed),
    ):
        return False
    allowed_path = allowed.path or "/"
    path = candidate.path or "/"
    if allowed_path.endswith("/"):
        return path.startswith(allowed_path)
    return path == allowed_path or path.startswith(allowed_path + "/")


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback address: the only hosts plain http may reach (local mode and tests)."""
    if not host:
        return False
    if host.lower() in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
