"""HTTP request/response for API Gateway HTTP API (payload format 2.0), with no Lambda SDK.

Handlers turn the event into an :class:`HttpRequest`, services return an :class:`HttpResponse`,
and :meth:`HttpResponse.to_apigw` turns it back. Every HTML response carries strict security headers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from emrex_emc.core.errors import EmrexError, ErrorCode

HTML_SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "script-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
    "pragma": "no-cache",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}
"""Applied to every student-facing page: no script at all, forms only to ourselves. The one page that
needs more (the auto-submit form to the EMP) widens ``script-src`` to its script's hash and
``form-action`` to the EMP in ``web.start_pages``."""


_QP_SPECIALS = ("=", "\r", "\n")
"""Characters ``binascii.a2b_qp`` treats specially besides the escape itself: values holding one take the slow path."""
_ESCAPED_PADDING = ("%3D", "%3d")


def _unquote_plus(value: str) -> str:
    """``urllib.parse.unquote_plus``, with a fast path for ASCII values such as a base64 ``elmo``."""
    value = value.replace("+", " ")
    if "%" not in value:
        return value
    fast = _unquote_ascii(value)
    return unquote(value) if fast is None else fast


def _unquote_ascii(value: str) -> str | None:
    """Percent-decode ``value`` in one C pass, or None when :func:`urllib.parse.unquote` must do it.

    Every ``%`` becomes ``=`` and :func:`binascii.a2b_qp` decodes the quoted-printable ``=XX`` escapes. It
    keeps a malformed escape as a literal ``=`` (or drops a final one), so a result without ``=`` from a
    text not ending in ``%`` had only well-formed escapes. Escaped ``=`` (base64 padding) is therefore
    split off the end first; one anywhere else takes the slow path, as do non-ASCII text and text with
    ``=``, CR or LF (meaningful to quoted-printable).
    """
    if not value.isascii() or any(char in value for char in _QP_SPECIALS):
        return None
    end = len(value)
    while value.endswith(_ESCAPED_PADDING, 0, end):
        end -= 3
    body = value[:end] if end < len(value) else value
    if body.endswith("%"):
        return None
    decoded = binascii.a2b_qp(body.replace("%", "="))
    if b"=" in decoded:
        return None
    return decoded.decode("utf-8", errors="replace") + "=" * ((len(value) - end) // 3)


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request, whatever carried it (API Gateway event, local emulator)."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-cased header names."""
    query: Mapping[str, str] = field(default_factory=dict)
    path_params: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str = ""
    request_id: str = ""
    route_key: str = ""
    """API Gateway's matched route (``"GET /start/{id}"``, ``"$default"``): what handlers dispatch on."""

    @classmethod
    def from_apigw(cls, event: Mapping[str, Any]) -> HttpRequest:
        """Build a request from an API Gateway HTTP API v2 event."""
        ctx = event.get("requestContext") or {}
        http = ctx.get("http") or {}
        raw_body = event.get("body") or ""
        body = _decode_body(raw_body) if event.get("isBase64Encoded") else raw_body.encode("utf-8", "surrogatepass")
        headers = {_text(k).lower(): _text(v) for k, v in (event.get("headers") or {}).items()}
        cookies: dict[str, str] = {}
        for item in event.get("cookies") or []:
            name, _, value = _text(item).partition("=")
            cookies.setdefault(name.strip(), value.strip())
        return cls(
            method=_text(http.get("method") or "GET").upper(),
            path=_text(event.get("rawPath") or http.get("path") or "/"),
            headers=headers,
            query=_texts(event.get("queryStringParameters")),
            path_params=_texts(event.get("pathParameters")),
            cookies=cookies,
            body=body,
            source_ip=str(http.get("sourceIp") or ""),
            request_id=str(ctx.get("requestId") or ""),
            route_key=str(event.get("routeKey") or ""),
        )

    def form(self, max_fields: int = 50) -> dict[str, str]:
        """Parse an ``application/x-www-form-urlencoded`` body; the first value of a field wins.

        Same result as :func:`urllib.parse.parse_qsl`, but a multi-megabyte base64 ``elmo`` value (whose
        only escapes are ``%2B``, ``%2F`` and ``%3D``) is decoded in C (see :func:`_unquote_plus`).
        Raises ``ValueError`` for more than ``max_fields`` fields, ``UnicodeDecodeError`` for non-UTF-8.
        """
        text = self.body.decode("utf-8", errors="strict")
        if text.count("&") >= max_fields:
            raise ValueError(f"the form has more than {max_fields} fields")
        fields: dict[str, str] = {}
        for pair in text.split("&"):
            if pair:
                name, _, value = pair.partition("=")
                fields.setdefault(_unquote_plus(name), _unquote_plus(value))
        return fields

    def base_url(self) -> str:
        """The API's base URL as the client addressed it (scheme from X-Forwarded-Proto)."""
        host = self.headers.get("host", "localhost")
        proto = self.headers.get("x-forwarded-proto", "https")
        return f"{proto}://{host}"


def _text(value: object) -> str:
    """``value`` as text that encodes as UTF-8: a lone surrogate (``"\\ud800"`` in the event's JSON) becomes
    U+FFFD, so no later ``.encode()`` of a header, cookie, path or query value can raise."""
    text = str(value)
    return text if text.isascii() else text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _texts(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {_text(name): _text(value) for name, value in (values or {}).items()}


def _decode_body(raw_body: str) -> bytes:
    try:
        return base64.b64decode(raw_body, validate=True)
    except (binascii.Error, ValueError):
        raise EmrexError(ErrorCode.FORM_INVALID, "the request body is not valid base64") from None


@dataclass
class HttpResponse:
    """An HTTP response, turned into API Gateway's shape by :meth:`to_apigw`."""

    status: int
    body: str | bytes = ""
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)

    def to_apigw(self) -> dict[str, Any]:
        result: dict[str, Any] = {"statusCode": self.status, "headers": dict(self.headers)}
        if isinstance(self.body, bytes):
            result["body"] = base64.b64encode(self.body).decode("ascii")
            result["isBase64Encoded"] = True
        else:
            result["body"] = self.body
            result["isBase64Encoded"] = False
        if self.cookies:
            result["cookies"] = list(self.cookies)
        return result


def html_response(status: int, html: str, extra_headers: Mapping[str, str] | None = None) -> HttpResponse:
    headers = {"content-type": "text/html; charset=utf-8", **HTML_SECURITY_HEADERS}
    if extra_headers:
        headers.update(extra_headers)
    return HttpResponse(status=status, body=html, headers=headers)


def json_response(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(
        status=status,
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        headers={"content-type": "application/json", "cache-control": "no-store", "x-content-type-options": "nosniff"},
    )
