"""The EMREX 2.0 EMP's server-to-server endpoints (token and results), over httpx, treated as hostile ground.

* https only (plain http only to a loopback host, in local mode), TLS verified, no proxies from the
  environment, redirects never followed (a 3xx is an answer like any other and is refused by the caller);
* every call shares the callback's deadline (a monotonic moment): connect and read time-outs are cut to
  what is left of it and it is checked again while the body streams in, so a slow EMP cannot hold a
  callback past it;
* bodies are capped while they stream in (the declared length first): the token response at a few KB,
  the results at the configured cap of a decoded EMREX 1 payload. ``Accept-Encoding: identity`` asks for
  the results as the EMP signed them.

Failures are ``EmrexError``: ``EMP_UNAVAILABLE`` (time-out, connection, refused URL), ``EMP_RESPONSE_INVALID``
(an oversized token answer, a body that does not decode), ``PAYLOAD_TOO_LARGE`` (oversized results, also once
decompressed). Nothing here logs; the messages hold
the host and the kind of failure, never a code, a token or an assertion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from emrex_emc.adapters.http_body import ACCEPT_ENCODING, read_capped
from emrex_emc.core.emrex2 import MAX_TOKEN_RESPONSE_BYTES, HttpAnswer
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.return_urls import is_loopback_host
from emrex_emc.core.text import clip

CONNECT_TIMEOUT_SECONDS = 3.0
USER_AGENT = "emrex-emc"
KEPT_HEADERS = ("content-type", "x-signature", "x-signature-algorithm")
"""The response headers the EMC reads (the detached JWS and its algorithm)."""


@dataclass(frozen=True)
class _Cap:
    """How large an answer may be, and how a larger one is refused."""

    max_bytes: int
    code: ErrorCode
    what: str

    def refusal(self, host: str) -> EmrexError:
        return EmrexError(self.code, f"the {self.what} from {host} is larger than {self.max_bytes} bytes")


def _unavailable(message: str) -> EmrexError:
    return EmrexError(ErrorCode.EMP_UNAVAILABLE, message)


class EmpHttp:
    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        max_results_bytes: int,
        allow_loopback_http: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._max_results_bytes = max_results_bytes
        self._allow_loopback_http = allow_loopback_http
        self._monotonic = monotonic

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                headers={"user-agent": USER_AGENT}, follow_redirects=False, verify=True, trust_env=False
            )
        return self._client

    def token(self, url: str, form: Mapping[str, str], *, deadline: float) -> HttpAnswer:
        """``POST`` the token request (``application/x-www-form-urlencoded``)."""
        cap = _Cap(MAX_TOKEN_RESPONSE_BYTES, ErrorCode.EMP_RESPONSE_INVALID, "token answer")
        headers = {"accept": "application/json", "accept-encoding": ACCEPT_ENCODING}
        return self._call("POST", url, headers=headers, deadline=deadline, cap=cap, data=form)

    def results(self, url: str, access_token: str, *, deadline: float) -> HttpAnswer:
        """``GET`` the results with the access token (``Authorization: Bearer``)."""
        headers = {
            "authorization": f"Bearer {access_token}",
            "accept": "application/xml, text/xml;q=0.9",
            "accept-encoding": "identity",
        }
        cap = _Cap(self._max_results_bytes, ErrorCode.PAYLOAD_TOO_LARGE, "results")
        return self._call("GET", url, headers=headers, deadline=deadline, cap=cap)

    def _call(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        deadline: float,
        cap: _Cap,
        data: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        host = self._checked_host(url)
        remaining = deadline - self._monotonic()
        if remaining <= 0:
            raise _unavailable(f"no time was left to call {host}")
        timeout = httpx.Timeout(remaining, connect=min(CONNECT_TIMEOUT_SECONDS, remaining))
        try:
            with self.client.stream(
                method,
                url,
                headers=dict(headers),
                data=dict(data or {}) or None,
                timeout=timeout,
                follow_redirects=False,
            ) as response:
                body = self._read(response, host, deadline, cap)
                kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
                return HttpAnswer(status=response.status_code, body=body, headers=kept)
        except httpx.TimeoutException:
            raise _unavailable(f"{host} did not answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _unavailable(f"{host} could not be reached ({type(exc).__name__})") from None

    def _checked_host(self, url: str) -> str:
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
        except ValueError:
            raise _unavailable("the EMP's endpoint is not a valid URL") from None
        scheme = parts.scheme.lower()
        if host and (scheme == "https" or (scheme == "http" and self._allow_loopback_http and is_loopback_host(host))):
            return clip(host, 100)
        raise _unavailable(f"refusing to call {clip(url, 100)!r}: an EMP's endpoints must be https")

    def _read(self, response: httpx.Response, host: str, deadline: float, cap: _Cap) -> bytes:
        def in_time() -> None:
            if self._monotonic() > deadline:
                raise _unavailable(f"{host} took too long to send its answer")

        def undecodable(reason: str) -> EmrexError:
            return EmrexError(ErrorCode.EMP_RESPONSE_INVALID, f"{host}: {reason}")

        return read_capped(
            response,
            cap.max_bytes,
            lambda _declared: cap.refusal(host),
            undecodable=undecodable,
            after_each_chunk=in_time,
        )
