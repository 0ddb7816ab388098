import gzip
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from emrex_emc.adapters.registry_fetch import (
    DEFAULT_CACHE,
    MAX_CACHE,
    MAX_ETAG_CHARS,
    MIN_CACHE,
    RegistryFetcher,
    cache_lifetime,
)
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.text import is_clean

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
BODY = b"<catalogue/>"


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = BODY
    etag: str | None = None
    """When set, an If-None-Match with this value gets a 304."""
    server_date: datetime | None = None
    block: threading.Event | None = None


@dataclass
class Registry:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def registry() -> Iterator[Registry]:
    state = Registry(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append({k.lower(): v for k, v in self.headers.items()})
            route = state.routes.get(self.path, Route(status=404, body=b""))
            if route.block is not None:
                route.block.wait(10)
            self.route = route
            if route.etag and self.headers.get("if-none-match") == route.etag:
                self.send_response(304)
                self.send_header("etag", route.etag)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                return
            self.send_response(route.status)
            if route.etag:
                self.send_header("etag", route.etag)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(route.body)

        def date_time_string(self, timestamp: float | None = None) -> str:
            route = getattr(self, "route", None)
            if route is not None and route.server_date is not None:
                return format_datetime(route.server_date, usegmt=True)
            return super().date_time_string(timestamp)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    for route in state.routes.values():
        if route.block is not None:
            route.block.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def fetcher() -> Iterator[RegistryFetcher]:
    with httpx.Client() as client:
        yield RegistryFetcher(client)


def unavailable(call) -> EmrexError:
    with pytest.raises(EmrexError) as caught:
        call()
    assert caught.value.code is ErrorCode.REGISTRY_UNAVAILABLE
    return caught.value


# --- HTTP -----------------------------------------------------------------------------------------


def test_first_fetch_returns_body_etag_and_cache_lifetime(registry, fetcher):
    registry.routes["/catalogue-v1.xml"] = Route(etag='"v1"', headers={"cache-control": "public, max-age=600"})
    result = fetcher.fetch(f"{registry.base}/catalogue-v1.xml", now=NOW)
    assert (result.not_modified, result.body, result.etag) == (False, BODY, '"v1"')
    assert result.cache_until == NOW + timedelta(seconds=600)
    assert "if-none-match" not in registry.requests[0]


def test_conditional_request_gets_304_and_keeps_the_etag(registry, fetcher):
    registry.routes["/c.xml"] = Route(etag='"v1"', headers={"cache-control": "max-age=1200"})
    result = fetcher.fetch(f"{registry.base}/c.xml", etag='"v1"', now=NOW)
    assert registry.requests[0]["if-none-match"] == '"v1"'
    assert (result.not_modified, result.body, result.etag) == (True, None, '"v1"')
    assert result.cache_until == NOW + timedelta(seconds=1200)


def test_changed_document_is_returned_in_full_despite_an_old_etag(registry, fetcher):
    registry.routes["/c.xml"] = Route(etag='"v2"')
    result = fetcher.fetch(f"{registry.base}/c.xml", etag='"v1"', now=NOW)
    assert (result.not_modified, result.body, result.etag) == (False, BODY, '"v2"')


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "max-age=5"}, MIN_CACHE),
        ({"cache-control": "max-age=999999"}, MAX_CACHE),
        ({"cache-control": "no-cache"}, MIN_CACHE),
        ({}, DEFAULT_CACHE),
    ],
    ids=["short-clamped-up", "long-clamped-down", "no-cache", "default"],
)
def test_cache_control_over_http_is_clamped(registry, fetcher, headers, expected):
    registry.routes["/c.xml"] = Route(headers=headers)
    assert fetcher.fetch(f"{registry.base}/c.xml", now=NOW).cache_until == NOW + expected


def test_expires_is_read_against_the_server_date_not_the_local_clock(registry, fetcher):
    server_now = NOW - timedelta(hours=2)  # the server's clock is two hours behind ours
    expires = format_datetime(server_now + timedelta(minutes=40), usegmt=True)
    registry.routes["/c.xml"] = Route(headers={"expires": expires}, server_date=server_now)
    assert fetcher.fetch(f"{registry.base}/c.xml", now=NOW).cache_until == NOW + timedelta(minutes=40)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "max-age=900", "expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, timedelta(minutes=15)),
        ({"cache-control": 'private, max-age="3600"'}, timedelta(hours=1)),
        ({"cache-control": "max-age=abc"}, DEFAULT_CACHE),
        ({"cache-control": "no-store, max-age=3600"}, MIN_CACHE),
        ({"expires": format_datetime(NOW + timedelta(hours=1), usegmt=True)}, timedelta(hours=1)),
        ({"expires": format_datetime(NOW + timedelta(days=2), usegmt=True)}, MAX_CACHE),
        ({"expires": format_datetime(NOW - timedelta(days=2), usegmt=True)}, MIN_CACHE),
        ({"expires": "0"}, MIN_CACHE),
        (
            {
                "expires": format_datetime(NOW + timedelta(minutes=30), usegmt=True),
                "date": format_datetime(NOW + timedelta(minutes=10), usegmt=True),
            },
            timedelta(minutes=20),
        ),
    ],
    ids=[
        "max-age-beats-expires",
        "quoted",
        "bad-max-age",
        "no-store",
        "expires",
        "expires-clamped",
        "expired",
        "invalid-expires",
        "expires-minus-date",
    ],
)
def test_cache_lifetime(headers, expected):
    assert cache_lifetime(httpx.Headers(headers), NOW) == expected


def test_http_error_status_is_unavailable(registry, fetcher):
    registry.routes["/c.xml"] = Route(status=503, body=b"down")
    error = unavailable(lambda: fetcher.fetch(f"{registry.base}/c.xml", now=NOW))
    assert error.message == "127.0.0.1 answered HTTP 503"


def test_connection_refused_is_unavailable(fetcher):
    error = unavailable(lambda: fetcher.fetch("http://127.0.0.1:1/c.xml", now=NOW))
    assert error.message.startswith("could not fetch the registry from 127.0.0.1: ConnectError")


def test_timeout_is_unavailable(registry):
    gate = threading.Event()
    registry.routes["/slow.xml"] = Route(block=gate)
    with httpx.Client() as client:
        fetcher = RegistryFetcher(client, timeout=httpx.Timeout(0.2))
        error = unavailable(lambda: fetcher.fetch(f"{registry.base}/slow.xml", now=NOW))
    gate.set()
    assert error.message == "timed out fetching the registry from 127.0.0.1"


def test_declared_oversized_body_is_refused(registry):
    registry.routes["/big.xml"] = Route(body=b"x" * 2000, headers={"content-length": "2000"})
    with httpx.Client() as client:
        error = unavailable(lambda: RegistryFetcher(client, max_bytes=1000).fetch(f"{registry.base}/big.xml", now=NOW))
    assert "2000 bytes, more than the 1000 allowed" in error.message


def test_undeclared_oversized_body_is_refused_while_streaming(registry):
    registry.routes["/big.xml"] = Route(body=b"x" * 5000)  # HTTP/1.0, no content-length: read until close
    with httpx.Client() as client:
        error = unavailable(lambda: RegistryFetcher(client, max_bytes=1000).fetch(f"{registry.base}/big.xml", now=NOW))
    assert "larger than the 1000 bytes allowed" in error.message


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress), ("identity", bytes)],
)
def test_a_compressed_registry_is_decoded(registry, fetcher, encoding, encode):
    document = b"<catalogue>" + b"<host/>" * 500 + b"</catalogue>"
    registry.routes["/c.xml"] = Route(body=encode(document), headers={"content-encoding": encoding})
    assert fetcher.fetch(f"{registry.base}/c.xml", now=NOW).body == document
    assert registry.requests[0]["accept-encoding"] == "gzip"


def test_a_compression_bomb_is_refused_before_it_is_inflated(registry):
    registry.routes["/bomb.xml"] = Route(
        body=gzip.compress(bytes(50 * 1024 * 1024)), headers={"content-encoding": "gzip"}
    )
    tracemalloc.start()
    try:
        with httpx.Client() as client:
            fetcher = RegistryFetcher(client, max_bytes=1024 * 1024)
            error = unavailable(lambda: fetcher.fetch(f"{registry.base}/bomb.xml", now=NOW))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than the 1048576 bytes allowed" in error.message
    assert peak < 8 * 1024 * 1024, f"{peak} bytes held for a 50 MB bomb"


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        ("gzip, gzip", gzip.compress(gzip.compress(BODY)), "'gzip, gzip' is not one we decode"),
        ("br", BODY, "'br' is not one we decode"),
        ("gzip", b"\x1f\x8b not gzip at all", "corrupt"),
        ("gzip", gzip.compress(BODY * 50)[:-12], "cut short"),
        ("gzip", gzip.compress(BODY) + b"trailing", "data after"),
        ("gzip" + "z" * 300, BODY, "is not one we decode"),
    ],
    ids=["stacked", "brotli", "corrupt", "truncated", "trailing-data", "long-name"],
)
def test_a_body_that_does_not_decode_is_unavailable(registry, fetcher, encoding, body, reason):
    registry.routes["/bad.xml"] = Route(body=body, headers={"content-encoding": encoding})
    error = unavailable(lambda: fetcher.fetch(f"{registry.base}/bad.xml", now=NOW))
    assert reason in error.message and is_clean(error.message) and len(error.message) < 300


def test_redirects_are_followed_on_loopback(registry, fetcher):
    registry.routes["/old.xml"] = Route(status=302, headers={"location": "/new.xml"}, body=b"")
    registry.routes["/new.xml"] = Route(etag='"n"')
    result = fetcher.fetch(f"{registry.base}/old.xml", now=NOW)
    assert (result.body, result.etag) == (BODY, '"n"')


def test_redirect_away_from_https_is_refused_before_it_is_followed(registry, fetcher):
    registry.routes["/c.xml"] = Route(status=301, headers={"location": "http://registry.example/c.xml"}, body=b"")
    error = unavailable(lambda: fetcher.fetch(f"{registry.base}/c.xml", now=NOW))
    assert "must be served over https" in error.message
    assert len(registry.requests) == 1


def test_redirect_loop_is_refused(registry, fetcher):
    registry.routes["/loop.xml"] = Route(status=302, headers={"location": "/loop.xml"}, body=b"")
    error = unavailable(lambda: fetcher.fetch(f"{registry.base}/loop.xml", now=NOW))
    assert "more than 5 redirects" in error.message


def test_a_hostile_redirect_location_is_clipped_in_the_message(registry, fetcher):
    location = "http://evil.example/" + "a" * 5000
    registry.routes["/c.xml"] = Route(status=302, headers={"location": location}, body=b"")
    error = unavailable(lambda: fetcher.fetch(f"{registry.base}/c.xml", now=NOW))
    assert error.message.startswith("refusing to fetch 'http://evil.example/aaaa")
    assert error.message.endswith("…': the registry must be served over https")
    assert len(error.message) < 300


@pytest.mark.parametrize("etag", ['"' + "e" * MAX_ETAG_CHARS + '"', '"café"'], ids=["too-long", "not-ascii"])
def test_an_etag_too_long_or_not_ascii_is_not_kept(registry, fetcher, etag):
    registry.routes["/c.xml"] = Route(etag=etag)
    assert fetcher.fetch(f"{registry.base}/c.xml", now=NOW).etag is None
    registry.routes["/c.xml"] = Route(etag='"' + "e" * (MAX_ETAG_CHARS - 2) + '"')
    assert fetcher.fetch(f"{registry.base}/c.xml", now=NOW).etag == '"' + "e" * (MAX_ETAG_CHARS - 2) + '"'


@pytest.mark.parametrize("url", ["http://registry.example/c.xml", "http://10.0.0.1/c.xml", "https:///c.xml"])
def test_plain_http_is_refused_except_on_loopback(url):
    error = unavailable(lambda: RegistryFetcher().fetch(url, now=NOW))
    assert "must be served over https" in error.message


@pytest.mark.parametrize("url", ["https://[registry.example/c.xml", "https://registry.example:443:1/c.xml"])
def test_an_unparseable_source_is_unavailable(url):
    error = unavailable(lambda: RegistryFetcher().fetch(url, now=NOW))
    assert error.message.startswith(f"refusing to fetch {url!r}:")


def test_a_url_httpx_refuses_is_unavailable(registry, fetcher):
    error = unavailable(lambda: fetcher.fetch(f"{registry.base}/{'a' * 70_000}", now=NOW))
    assert error.message == "could not fetch the registry from 127.0.0.1: InvalidURL: URL too long"


def test_default_client_is_created_lazily_and_works(registry):
    registry.routes["/c.xml"] = Route()
    fetcher = RegistryFetcher()
    assert fetcher.fetch(f"http://localhost:{registry.base.rsplit(':', 1)[1]}/c.xml", now=NOW).body == BODY
    assert registry.requests[0]["user-agent"] == "emrex-emc registry-refresh"
    fetcher.client.close()


# --- files ----------------------------------------------------------------------------------------


def test_plain_path_and_file_url(tmp_path):
    path = tmp_path / "catalogue v1.xml"
    path.write_bytes(BODY)
    fetcher = RegistryFetcher()
    by_path = fetcher.fetch(str(path), now=NOW)
    by_url = fetcher.fetch(path.as_uri(), now=NOW)
    assert by_path.body == by_url.body == BODY
    assert by_path.etag == by_url.etag
    assert by_path.cache_until == NOW + DEFAULT_CACHE
    assert not by_path.not_modified


def test_unchanged_file_is_not_modified(tmp_path):
    path = tmp_path / "c.xml"
    path.write_bytes(BODY)
    fetcher = RegistryFetcher()
    first = fetcher.fetch(str(path), now=NOW)
    again = fetcher.fetch(str(path), etag=first.etag, now=NOW)
    assert (again.not_modified, again.body, again.etag) == (True, None, first.etag)
    path.write_bytes(b"<catalogue><host/></catalogue>")
    changed = fetcher.fetch(str(path), etag=first.etag, now=NOW)
    assert (changed.not_modified, changed.body) == (False, b"<catalogue><host/></catalogue>")


def test_missing_file_is_unavailable(tmp_path):
    error = unavailable(lambda: RegistryFetcher().fetch(str(tmp_path / "nope.xml"), now=NOW))
    assert "cannot read registry file" in error.message


def test_oversized_file_is_unavailable(tmp_path):
    path = tmp_path / "c.xml"
    path.write_bytes(b"x" * 101)
    error = unavailable(lambda: RegistryFetcher(max_bytes=100).fetch(str(path), now=NOW))
    assert "larger than the 100 bytes allowed" in error.message


def test_unsupported_scheme_is_unavailable():
    error = unavailable(lambda: RegistryFetcher().fetch("ftp://registry.example/c.xml", now=NOW))
    assert "unsupported registry source" in error.message
