"""The local API Gateway emulator: v2 event shape, body encoding and limits, error and cookie mapping."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from emrex_emc.local.apigw import LocalApiGateway, Route, build_event, map_result, serve

Captured = list[tuple[dict[str, Any], Any]]


def _recorder(captured: Captured, response: Any) -> Any:
    def handler(event: dict[str, Any], context: Any) -> Any:
        captured.append((event, context))
        return response

    return handler


def _boom(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("handler bug")


@pytest.fixture
def captured() -> Captured:
    return []


@pytest.fixture
def gateway(captured: Captured) -> Iterator[tuple[str, int]]:
    ok = {"statusCode": 201, "headers": {"content-type": "application/json"}, "body": '{"ok":true}'}
    routes = [
        Route("POST", "/sessions", "enrolment_api", _recorder(captured, ok)),
        Route("GET", "/sessions/{id}", "enrolment_api", _recorder(captured, ok)),
        Route(
            "GET",
            "/start/{id}",
            "start_session",
            _recorder(
                captured,
                {
                    "statusCode": 200,
                    "headers": {"content-type": "application/octet-stream"},
                    "cookies": ["a=1; HttpOnly", "b=2; Secure"],
                    "body": base64.b64encode(b"\x00\xffbinary").decode(),
                    "isBase64Encoded": True,
                },
            ),
        ),
        Route("POST", "/callback", "callback", _boom),
        Route("GET", "/plain", "plain", _recorder(captured, {"hello": "world"})),
    ]
    server = serve(LocalApiGateway(routes, max_body_bytes=1000, max_event_bytes=4000), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[0], server.server_address[1]
    server.shutdown()
    server.server_close()


def _read(address: tuple[str, int], method: str, path: str, **kwargs: Any) -> tuple[int, Any, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request(method, path, body=kwargs.get("body"), headers=kwargs.get("headers") or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.headers, data


def test_get_event_has_the_v2_shape(gateway: tuple[str, int], captured: Captured) -> None:
    status, _, _ = _read(
        gateway,
        "GET",
        "/sessions/abc123?lang=nl&x=1&x=2",
        headers={"Cookie": "csrf=tok; other=v", "X-Custom": "Value", "User-Agent": "ua"},
    )
    assert status == 201
    event, context = captured[0]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /sessions/{id}"
    assert event["rawPath"] == "/sessions/abc123"
    assert event["rawQueryString"] == "lang=nl&x=1&x=2"
    assert event["queryStringParameters"] == {"lang": "nl", "x": "1,2"}
    assert event["pathParameters"] == {"id": "abc123"}
    assert event["cookies"] == ["csrf=tok", "other=v"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-custom"] == "Value"
    assert event["headers"]["x-forwarded-proto"] == "http"
    http_ctx = event["requestContext"]["http"]
    assert http_ctx == {
        "method": "GET",
        "path": "/sessions/abc123",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "ua",
    }
    assert event["requestContext"]["requestId"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    assert context.function_name == "enrolment_api"
    assert context.aws_request_id
    assert context.memory_limit_in_mb > 0
    assert 0 < context.get_remaining_time_in_millis() <= 29_000


def test_form_body_is_base64_encoded_like_api_gateway(gateway: tuple[str, int], captured: Captured) -> None:
    form = b"sessionId=abc&elmo=H4sI%2B%2F%3D"
    _read(gateway, "POST", "/sessions", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    event, _ = captured[0]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == form


def test_json_body_stays_text(gateway: tuple[str, int], captured: Captured) -> None:
    _read(gateway, "POST", "/sessions", body=b'{"a": "\xc3\xa9"}', headers={"Content-Type": "application/json"})
    event, _ = captured[0]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"a": "é"}


def test_body_over_the_limit_is_rejected_with_413_without_calling_the_handler(
    gateway: tuple[str, int], captured: Captured
) -> None:
    status, _, data = _read(gateway, "POST", "/sessions", body=b"x" * 1001, headers={"Content-Type": "text/plain"})
    assert status == 413
    assert json.loads(data) == {"message": "Request Entity Too Large"}
    assert captured == []


def test_event_over_the_lambda_limit_is_rejected_with_413(gateway: tuple[str, int], captured: Captured) -> None:
    # 900 bytes pass the body limit but become 1200 base64 characters; the tiny event limit is hit.
    headers = {"Content-Type": "application/octet-stream", "X-Pad": "p" * 3000}
    status, _, _ = _read(gateway, "POST", "/sessions", body=b"\x01" * 900, headers=headers)
    assert status == 413
    assert captured == []


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/sessions"), ("GET", "/sessions/a/b")])
def test_unknown_route_is_404(gateway: tuple[str, int], captured: Captured, method: str, path: str) -> None:
    status, _, data = _read(gateway, method, path)
    assert status == 404
    assert json.loads(data) == {"message": "Not Found"}
    assert captured == []


def test_unhandled_exception_is_500(gateway: tuple[str, int]) -> None:
    status, _, data = _read(gateway, "POST", "/callback", body=b"a=1")
    assert status == 500
    assert json.loads(data) == {"message": "Internal Server Error"}


def test_cookies_become_set_cookie_headers_and_base64_bodies_are_decoded(gateway: tuple[str, int]) -> None:
    status, headers, data = _read(gateway, "GET", "/start/xyz")
    assert status == 200
    assert headers.get_all("set-cookie") == ["a=1; HttpOnly", "b=2; Secure"]
    assert data == b"\x00\xffbinary"


def test_plain_json_result_becomes_200_json(gateway: tuple[str, int]) -> None:
    status, headers, data = _read(gateway, "GET", "/plain")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(data) == {"hello": "world"}


def test_build_event_joins_repeated_headers() -> None:
    route = Route("GET", "/health", "health", lambda e, c: None)
    event = build_event(
        route=route,
        path_params={},
        method="GET",
        raw_path="/health",
        raw_query="",
        headers=[("Accept", "a"), ("accept", "b")],
        body=b"",
        source_ip="127.0.0.1",
        host="localhost",
    )
    assert event["headers"]["accept"] == "a,b"
    assert "queryStringParameters" not in event and "cookies" not in event and "pathParameters" not in event


def test_map_result_keeps_text_body() -> None:
    result = map_result({"statusCode": 303, "headers": {"location": "/x"}, "body": "ok"})
    assert (result.status, result.headers, result.body) == (303, [("location", "/x")], b"ok")


def test_a_client_that_went_away_prints_no_traceback_but_real_errors_do(capsys: pytest.CaptureFixture[str]) -> None:
    server = serve(LocalApiGateway([], max_body_bytes=1000, max_event_bytes=4000), "127.0.0.1", 0)
    try:
        for gone in (ConnectionResetError(104, "Connection reset by peer"), BrokenPipeError(32, "Broken pipe")):
            try:
                raise gone
            except ConnectionError:
                server.handle_error(None, ("127.0.0.1", 50000))
        assert capsys.readouterr().err == ""
        try:
            raise ValueError("a bug in a handler")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 50000))
        assert "ValueError: a bug in a handler" in capsys.readouterr().err
    finally:
        server.server_close()
