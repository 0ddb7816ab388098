"""The EMP's token and results endpoints are hostile ground: https only, TLS verified, no redirects followed,
answers capped while they stream, one deadline for a whole callback. Against real local servers."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import ssl
import threading
import time
import tracemalloc
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from emrex_emc.adapters.emp_http import EmpHttp
from emrex_emc.core.emrex2 import MAX_TOKEN_RESPONSE_BYTES
from emrex_emc.core.errors import EmrexError, ErrorCode

RESULTS_CAP = 64 * 1024
BOMB_BYTES = 50 * 1024 * 1024


@cache
def bomb() -> bytes:
    """~50 KB of gzip that inflate to :data:`BOMB_BYTES` (made once, before any memory is traced)."""
    return gzip.compress(bytes(BOMB_BYTES), compresslevel=9)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "transfer-encoding" not in (headers or {}):
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        self.server.requests.append(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "form": parse_qs(body)}
        )
        self._route()

    def do_GET(self) -> None:
        self.server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
        self._route()

    def _route(self) -> None:
        path = self.path.split("?")[0]
        if path == "/token":
            self._send(200, b'{"access_token":"AT","token_type":"Bearer"}', {"content-type": "application/json"})
        elif path == "/results":
            headers = {"content-type": "application/xml", "x-signature": "h..s", "x-signature-algorithm": "RS256"}
            self._send(200, b"<elmo/>", {**headers, "x-other": "dropped"})
        elif path == "/redirect":
            self._send(302, b"", {"location": "/results"})
        elif path == "/declared-too-large":
            self.send_response(200)
            self.send_header("content-length", str(RESULTS_CAP + 1))
            self.end_headers()
            self.wfile.write(b"x" * 10)
        elif path == "/chunked-too-large":
            self.send_response(200)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 8192
            for _ in range(RESULTS_CAP // 8192 + 2):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/gzip-token":
            body = gzip.compress(b'{"access_token":"AT","token_type":"Bearer"}')
            self._send(200, body, {"content-type": "application/json", "content-encoding": "gzip"})
        elif path == "/bomb":  # ~50 KB that inflate to 50 MB, twice wrapped
            self._send(200, gzip.compress(bomb()), {"content-encoding": "gzip, gzip"})
        elif path == "/bomb-one-layer":
            self._send(200, bomb(), {"content-encoding": "gzip"})
        elif path == "/brotli":
            self._send(200, b"\x0b\x02\x80hello\x03", {"content-encoding": "br"})
        elif path == "/slow":
            time.sleep(3)
            self._send(200, b"late")
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("content-length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"z")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self._send(404, b"")


def _serve(context: ssl.SSLContext | None = None) -> Iterator[tuple[_Server, str]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.requests = []
    scheme = "http"
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"{scheme}://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def emp() -> Iterator[tuple[_Server, str]]:
    yield from _serve()


def deadline(seconds: float = 10.0) -> float:
    return time.monotonic() + seconds


def adapter(**kwargs: Any) -> EmpHttp:
    return EmpHttp(max_results_bytes=RESULTS_CAP, allow_loopback_http=True, **kwargs)


def refused(call: Any) -> EmrexError:
    with pytest.raises(EmrexError) as caught:
        call()
    return caught.value


def test_the_token_request_is_a_form_post_and_the_results_a_bearer_get(emp: tuple[_Server, str]) -> None:
    server, base = emp
    http = adapter()
    token = http.token(f"{base}/token", {"grant_type": "authorization_code", "code": "c"}, deadline=deadline())
    assert token.status == 200 and json.loads(token.body)["access_token"] == "AT"
    results = http.results(f"{base}/results?data_format=elmo&data_format_version=2.1", "AT", deadline=deadline())
    assert results.status == 200 and results.body == b"<elmo/>"
    assert results.headers == {
        "content-type": "application/xml",
        "x-signature": "h..s",
        "x-signature-algorithm": "RS256",
    }
    token_request, results_request = server.requests
    assert token_request["form"] == {"grant_type": ["authorization_code"], "code": ["c"]}
    assert token_request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert results_request["headers"]["authorization"] == "Bearer AT"
    assert results_request["headers"]["accept-encoding"] == "identity"
    assert results_request["path"] == "/results?data_format=elmo&data_format_version=2.1"


def test_redirects_are_answers_never_followed(emp: tuple[_Server, str]) -> None:
    server, base = emp
    answer = adapter().results(f"{base}/redirect", "AT", deadline=deadline())
    assert answer.status == 302 and [request["path"] for request in server.requests] == ["/redirect"]


@pytest.mark.parametrize(
    "url",
    [
        "http://emp.example.nl/token",
        "ftp://127.0.0.1/token",
        "file:///etc/passwd",
        "https://[::1/token",
        "https:///token",
    ],
)
def test_only_https_urls_are_called(url: str) -> None:
    error = refused(lambda: adapter().token(url, {}, deadline=deadline()))
    assert error.code is ErrorCode.EMP_UNAVAILABLE


def test_loopback_http_only_in_local_mode(emp: tuple[_Server, str]) -> None:
    server, base = emp
    strict = EmpHttp(max_results_bytes=RESULTS_CAP)
    assert refused(lambda: strict.token(f"{base}/token", {}, deadline=deadline())).code is ErrorCode.EMP_UNAVAILABLE
    assert server.requests == []


def test_tls_certificates_are_verified(tmp_path: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert, key = _self_signed(tmp_path)
    context.load_cert_chain(cert, key)
    for server, base in _serve(context):
        error = refused(
            lambda base=base: EmpHttp(max_results_bytes=RESULTS_CAP).token(f"{base}/token", {}, deadline=deadline())
        )
        assert error.code is ErrorCode.EMP_UNAVAILABLE and "127.0.0.1" in error.message
        assert server.requests == []


def _self_signed(folder: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.mark.parametrize("path", ["/declared-too-large", "/chunked-too-large"])
def test_results_larger_than_the_cap_are_refused_while_streaming(emp: tuple[_Server, str], path: str) -> None:
    error = refused(lambda: adapter().results(f"{emp[1]}{path}", "AT", deadline=deadline()))
    assert error.code is ErrorCode.PAYLOAD_TOO_LARGE and str(RESULTS_CAP) in error.message


def test_a_token_answer_larger_than_its_cap_is_unusable(emp: tuple[_Server, str]) -> None:
    http = EmpHttp(max_results_bytes=MAX_TOKEN_RESPONSE_BYTES * 4, allow_loopback_http=True)
    error = refused(lambda: http.token(f"{emp[1]}/chunked-too-large", {}, deadline=deadline()))
    assert error.code is ErrorCode.EMP_RESPONSE_INVALID


def test_a_slow_emp_runs_out_of_the_callbacks_time(emp: tuple[_Server, str]) -> None:
    error = refused(lambda: adapter().token(f"{emp[1]}/slow", {}, deadline=deadline(0.5)))
    assert error.code is ErrorCode.EMP_UNAVAILABLE and "in time" in error.message


def test_a_trickling_body_cannot_hold_the_callback_past_its_deadline(emp: tuple[_Server, str]) -> None:
    error = refused(lambda: adapter().results(f"{emp[1]}/trickle", "AT", deadline=deadline(0.6)))
    assert error.code is ErrorCode.EMP_UNAVAILABLE


def test_no_time_left_means_no_call(emp: tuple[_Server, str]) -> None:
    server, base = emp
    error = refused(lambda: adapter().token(f"{base}/token", {}, deadline=time.monotonic() - 1))
    assert error.code is ErrorCode.EMP_UNAVAILABLE and server.requests == []


def test_an_unreachable_emp(emp: tuple[_Server, str]) -> None:
    closed = EmpHttp(max_results_bytes=RESULTS_CAP, allow_loopback_http=True)
    error = refused(lambda: closed.token("http://127.0.0.1:9/token", {}, deadline=deadline()))
    assert error.code is ErrorCode.EMP_UNAVAILABLE and "could not be reached" in error.message


# --- compressed answers: decoded here, within the cap ---------------------------------------------------


def test_a_compressed_token_answer_is_decoded_and_the_encodings_asked_for_are_those_we_decode(
    emp: tuple[_Server, str],
) -> None:
    server, base = emp
    answer = adapter().token(f"{base}/gzip-token", {}, deadline=deadline())
    assert json.loads(answer.body)["access_token"] == "AT"
    assert server.requests[0]["headers"]["accept-encoding"] == "gzip"


@pytest.mark.parametrize("path", ["/bomb-one-layer", "/bomb"])
def test_a_compression_bomb_is_refused_without_inflating_it(emp: tuple[_Server, str], path: str) -> None:
    _, base = emp
    gzip.compress(bomb())  # the server's own work, outside the traced window
    tracemalloc.start()
    try:
        error = refused(lambda: adapter().results(f"{base}{path}", "AT", deadline=deadline()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if path == "/bomb":  # two layers: an encoding we do not decode
        assert error.code is ErrorCode.EMP_RESPONSE_INVALID and "'gzip, gzip'" in error.message
    else:
        assert error.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert peak < 8 * 1024 * 1024, f"{peak} bytes held for a {BOMB_BYTES}-byte bomb"


def test_an_encoding_we_do_not_decode_is_refused(emp: tuple[_Server, str]) -> None:
    _, base = emp
    error = refused(lambda: adapter().token(f"{base}/brotli", {}, deadline=deadline()))
    assert error.code is ErrorCode.EMP_RESPONSE_INVALID and "'br'" in error.message
