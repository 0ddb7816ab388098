"""A local stand-in for API Gateway HTTP API (payload format 2.0) in front of the real Lambda handlers.

It does what API Gateway does for this project and nothing more: match ``METHOD /path/{param}`` routes,
build the v2 event (base64-encoding non-text bodies, as API Gateway does for form posts), enforce the
request body limits, call the handler with a Lambda-like context and map its result back to HTTP.
Each route's handler runs behind its own lock: one warm Lambda instance per function.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from emrex_emc.web.routes import DEFAULT_ROUTE_KEY
from emrex_emc.web.routes import Route as ApiRoute

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]

API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024
"""HTTP API request payload quota."""
LAMBDA_MAX_REQUEST_BYTES = 6 * 1024 * 1024
"""Synchronous Invoke request limit: the serialized event (a base64 body grows by 4/3) must fit."""
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
_NOT_FOUND = {"message": "Not Found"}
_TOO_LARGE = {"message": "Request Entity Too Large"}
_INTERNAL_ERROR = {"message": "Internal Server Error"}


@dataclass(frozen=True)
class Route(ApiRoute):
    """A route of the local gateway: one of the API's routes (``web.routes``) or a mock's, and its handler."""

    handler: Handler

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when ``method`` and ``path`` match this route, else ``None``.

        ``$default`` matches every request; :meth:`LocalApiGateway.find` tries it last, as API Gateway does.
        """
        if self.path == DEFAULT_ROUTE_KEY:
            return {}
        if method != self.method:
            return None
        found = _route_regex(self.path).fullmatch(path)
        return None if found is None else found.groupdict()


def _route_regex(path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(pattern)


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    timeout_seconds: float = 29.0
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def new_context(function_name: str, timeout_seconds: float = 29.0) -> LambdaContext:
    return LambdaContext(function_name=function_name, aws_request_id=str(_uuid()), timeout_seconds=timeout_seconds)


def _uuid() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def is_text_content_type(content_type: str) -> bool:
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    return media.startswith(_TEXT_TYPES) or media.endswith(("+json", "+xml"))


def build_event(
    *,
    route: Route,
    path_params: Mapping[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str,
    host: str,
) -> dict[str, Any]:
    """The API Gateway HTTP API v2 event for one request.

    Repeated headers and query parameters are joined with commas and the ``Cookie`` header moves to
    ``cookies``, as API Gateway does.
    """
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[lower] = f"{merged[lower]},{value}" if lower in merged else value
    merged.setdefault("x-forwarded-proto", "http")
    merged.setdefault("x-forwarded-for", source_ip)
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.now(UTC)
    request_id = secrets.token_urlsafe(12)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", maxsplit=1)[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = dict(path_params)
    if body:
        if is_text_content_type(merged.get("content-type", "")):
            event["body"] = body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def map_result(result: Any) -> HttpResult:
    """Turn a handler's return value into HTTP the way API Gateway does for payload format 2.0."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        # Format 2.0 lets a handler return plain JSON: it becomes a 200 application/json response.
        return HttpResult(200, [("content-type", "application/json")], json.dumps(result).encode("utf-8"))
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw_body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = raw_body.encode("utf-8") if isinstance(raw_body, str) else json.dumps(raw_body).encode("utf-8")
    return HttpResult(int(result["statusCode"]), headers, body)


def _json_result(status: int, payload: Mapping[str, str]) -> HttpResult:
    return HttpResult(status, [("content-type", "application/json")], json.dumps(payload).encode("utf-8"))


class LocalApiGateway:
    """Routes requests to handlers; thread-safe; knows nothing about sockets (see :func:`serve`)."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        max_body_bytes: int = API_GATEWAY_MAX_BODY_BYTES,
        max_event_bytes: int = LAMBDA_MAX_REQUEST_BYTES,
    ) -> None:
        self.routes: tuple[Route, ...] = ()
        self.max_body_bytes = max_body_bytes
        self.max_event_bytes = max_event_bytes
        self._locks: dict[str, threading.Lock] = {}
        self.add_routes(routes)

    def add_routes(self, routes: Sequence[Route]) -> None:
        """Add routes (the server can be bound, and its URL known, before the handlers are imported)."""
        for route in routes:
            self._locks.setdefault(route.function, threading.Lock())
        self.routes = (*self.routes, *routes)

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        ordered = sorted(self.routes, key=lambda route: route.path == DEFAULT_ROUTE_KEY)
        for route in ordered:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None

    def invoke(self, route: Route, event: dict[str, Any]) -> HttpResult:
        if len(json.dumps(event).encode("utf-8")) > self.max_event_bytes:
            logger.warning("event for %s exceeds the Lambda request limit", route.key)
            return _json_result(413, _TOO_LARGE)
        context = new_context(route.function)
        try:
            with self._locks[route.function]:
                return map_result(route.handler(event, context))
        except Exception:
            logger.exception("unhandled exception in %s (request %s)", route.function, context.aws_request_id)
            return _json_result(500, _INTERNAL_ERROR)


class _LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a closed tab, ``curl -f`` on an error) is normal here: no traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def serve(gateway: LocalApiGateway, host: str, port: int) -> ThreadingHTTPServer:
    """Bind (port 0 picks a free port) and return the server; call ``serve_forever`` in a thread."""

    class _RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            if length > gateway.max_body_bytes:
                self.close_connection = True
                self._send(_json_result(413, _TOO_LARGE))
                return
            body = self.rfile.read(length) if length else b""
            found = gateway.find(self.command, split.path)
            if found is None:
                self._send(_json_result(404, _NOT_FOUND))
                return
            route, params = found
            event = build_event(
                route=route,
                path_params=params,
                method=self.command,
                raw_path=split.path,
                raw_query=split.query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                host=self.headers.get("host", ""),
            )
            self._send(gateway.invoke(route, event))

        def _send(self, result: HttpResult) -> None:
            self.send_response(result.status)
            for name, value in result.headers:
                if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(name, value)
            self.send_header("content-length", str(len(result.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(result.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("apigw %s - %s", self.address_string(), format % args)

    return _LocalServer((host, port), _RequestHandler)
