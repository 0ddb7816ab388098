"""Fetch a registry document: a conditional HTTPS GET honouring the cache headers, or a local file.

The EWP Registry README asks clients to cache the catalogue, honour Cache-Control / Expires (or use a
constant between 1 minute and 3 hours, 15 minutes recommended) and supports conditional requests.
Every failure is ``EmrexError(REGISTRY_UNAVAILABLE)`` with a message saying what went wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from emrex_emc.adapters.http_body import ACCEPT_ENCODING, read_capped
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.registry import MAX_REGISTRY_BYTES, FetchResult
from emrex_emc.core.return_urls import is_loopback_host
from emrex_emc.core.text import clip

MIN_CACHE = timedelta(minutes=1)
MAX_CACHE = timedelta(hours=3)
DEFAULT_CACHE = timedelta(minutes=15)
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_ETAG_CHARS = 200
"""ETags are short opaque tokens (a hash or a version); a longer one is not stored."""
USER_AGENT = "emrex-emc registry-refresh"


def _unavailable(message: str) -> EmrexError:
    return EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, message)


def cache_lifetime(headers: Mapping[str, str], now: datetime) -> timedelta:
    """How long a response may be reused: Cache-Control max-age, else Expires - Date, clamped to [1 min, 3 h].

    ``headers`` must be case-insensitive (httpx.Headers) or use lower-case names. The server's ``Date`` is
    used with ``Expires`` so a skewed local clock does not change the lifetime.
    """
    lifetime = _from_cache_control(headers.get("cache-control", ""))
    if lifetime is None:
        lifetime = _from_expires(headers, now)
    if lifetime is None:
        return DEFAULT_CACHE
    return max(MIN_CACHE, min(MAX_CACHE, lifetime))


def _from_cache_control(value: str) -> timedelta | None:
    directives = {}
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        directives[name.strip().lower()] = argument.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return timedelta(0)
    raw = directives.get("max-age")
    if raw is None:
        return None
    try:
        return timedelta(seconds=max(0, int(raw)))
    except ValueError:
        return None


def _from_expires(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    raw = headers.get("expires")
    if raw is None:
        return None
    expires = _http_date(raw)
    if expires is None:
        return timedelta(0)  # RFC 9111 §5.3: an invalid Expires (e.g. "0") means already expired
    server_now = _http_date(headers.get("date", "")) or now
    return expires - server_now


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def check_source_url(url: str) -> None:
    """Only https, or plain http to a loopback host (the local runner and tests)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise _unavailable(f"refusing to fetch {clip(url)!r}: not a valid URL") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and is_loopback_host(host):
        return
    raise _unavailable(f"refusing to fetch {clip(url)!r}: the registry must be served over https")


def _host(url: str) -> str:
    """The host of ``url`` for a message (the URL may come from a redirect, so it is clipped)."""
    try:
        return clip(urlsplit(url).hostname or "?")
    except ValueError:
        return "?"


def _etag(headers: httpx.Headers) -> str | None:
    """The response's ETag, unless it is too long or not printable ASCII: it is stored in the snapshot and
    sent back in If-None-Match, so a hostile one is dropped (the next fetch is then unconditional)."""
    value: str | None = headers.get("etag")
    if value is None or len(value) > MAX_ETAG_CHARS or not (value.isascii() and value.isprintable()):
        return None
    return value


class RegistryFetcher:
    """Fetches ``https://`` URLs (``http://`` only for loopback hosts), ``file://`` URLs and plain paths."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        max_bytes: int = MAX_REGISTRY_BYTES,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = client
        self._max_bytes = max_bytes
        self._timeout = timeout

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout, headers={"user-agent": USER_AGENT})
        return self._client

    def fetch(self, source: str, *, etag: str | None = None, now: datetime) -> FetchResult:
        try:
            parts = urlsplit(source)
        except ValueError:
            raise _unavailable(f"refusing to fetch {clip(source)!r}: not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme in {"http", "https"}:
            return self._fetch_http(source, etag=etag, now=now)
        if scheme == "file":
            return self._fetch_file(Path(unquote(parts.path)), etag=etag, now=now)
        if scheme and len(scheme) > 1:  # a one-letter "scheme" is a Windows drive letter
            raise _unavailable(f"unsupported registry source {clip(source)!r} (use https://, file:// or a path)")
        return self._fetch_file(Path(source), etag=etag, now=now)

    def _fetch_http(self, url: str, *, etag: str | None, now: datetime) -> FetchResult:
        headers = {"accept": "application/xml, application/json;q=0.9, */*;q=0.1", "accept-encoding": ACCEPT_ENCODING}
        if etag:
            headers["if-none-match"] = etag
        try:
            for _ in range(MAX_REDIRECTS + 1):
                check_source_url(url)  # every hop: a redirect must not leave https
                with self.client.stream(
                    "GET", url, headers=headers, timeout=self._timeout, follow_redirects=False
                ) as response:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        url = str(response.url.join(response.headers["location"]))
                        continue
                    return self._result(response, etag=etag, now=now)
        except httpx.TimeoutException:
            raise _unavailable(f"timed out fetching the registry from {_host(url)}") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            detail = clip(f"{type(exc).__name__}: {exc}")
            raise _unavailable(f"could not fetch the registry from {_host(url)}: {detail}") from None
        raise _unavailable(f"more than {MAX_REDIRECTS} redirects fetching the registry")

    def _result(self, response: httpx.Response, *, etag: str | None, now: datetime) -> FetchResult:
        cache_until = now + cache_lifetime(response.headers, now)
        if response.status_code == httpx.codes.NOT_MODIFIED:
            return FetchResult(
                not_modified=True, body=None, etag=_etag(response.headers) or etag, cache_until=cache_until
            )
        if response.status_code != httpx.codes.OK:
            raise _unavailable(f"{clip(response.url.host)} answered HTTP {response.status_code}")
        body = self._read_capped(response)
        return FetchResult(not_modified=False, body=body, etag=_etag(response.headers), cache_until=cache_until)

    def _read_capped(self, response: httpx.Response) -> bytes:
        def too_large(declared: str | None) -> EmrexError:
            if declared is None:
                return _unavailable(f"the registry is larger than the {self._max_bytes} bytes allowed")
            return _unavailable(f"the registry is {declared} bytes, more than the {self._max_bytes} allowed")

        def undecodable(reason: str) -> EmrexError:
            return _unavailable(f"the registry from {_host(str(response.url))} cannot be read: {reason}")

        return read_capped(response, self._max_bytes, too_large, undecodable=undecodable)

    def _fetch_file(self, path: Path, *, etag: str | None, now: datetime) -> FetchResult:
        try:
            with path.open("rb") as handle:
                body = handle.read(self._max_bytes + 1)
        except OSError as exc:
            raise _unavailable(f"cannot read registry file {str(path)!r}: {exc.strerror or exc}") from None
        if len(body) > self._max_bytes:
            raise _unavailable(f"registry file {str(path)!r} is larger than the {self._max_bytes} bytes allowed")
        file_etag = f'"sha256-{hashlib.sha256(body).hexdigest()}"'
        unchanged = etag == file_etag
        return FetchResult(
            not_modified=unchanged,
            body=None if unchanged else body,
            etag=file_etag,
            cache_until=now + DEFAULT_CACHE,
        )
