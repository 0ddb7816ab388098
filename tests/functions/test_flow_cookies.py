"""One browser, several EMREX 2.0 transfers: each has its own flow cookie, and only its own one opens it.

Through the real handlers: ``POST /start/{id}`` sets the cookies (kept by name, as a browser keeps them), the
mock EMP 2.0 answers in-process, ``GET /callback`` redirects back and shows the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from callback import handler as callback_handler
from emrex_emc.core.errors import ErrorCode
from emrex_emc.core.protocol import Status
from emrex_emc.core.transfer import Transfer
from emrex_emc.local.mock_emp2 import MockEmp2
from start_session import handler as start
from tests.functions.conftest import AwsEnv, ClientKeyEnv, rewired
from tests.functions.emrex2_support import InProcessEmp, decided, flow_cookie_name, get_event, mock_emp
from tests.functions.test_start_emrex2 import authorization
from tests.functions.test_start_session import NO, SE, choose, store_snapshot
from tests.lambda_context import LAMBDA_CONTEXT

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


fresh_handlers = rewired(start, callback_handler)


class Browser:
    """A cookie jar keyed by name: a later Set-Cookie of the same name replaces the earlier one."""

    def __init__(self) -> None:
        self.jar: dict[str, str] = {}

    def keep(self, response: dict[str, Any]) -> None:
        for header in response.get("cookies") or []:
            name, _, value = header.split(";")[0].partition("=")
            self.jar[name] = value

    def cookies(self) -> list[str]:
        return [f"{name}={value}" for name, value in self.jar.items()]


@pytest.fixture
def mock(aws_env: AwsEnv, client_key: ClientKeyEnv, monkeypatch: pytest.MonkeyPatch) -> MockEmp2:
    emp2 = mock_emp(client_key)
    store_snapshot(aws_env, emps=(SE, NO, emp2.registry_entry()))
    endpoints = InProcessEmp(emp2)
    monkeypatch.setattr("emrex_emc.adapters.emp_http.EmpHttp", lambda **_: endpoints)
    return emp2


def chosen(browser: Browser, transfer: Transfer, mock: MockEmp2) -> dict[str, str]:
    """The student chooses the EMP 2.0 for ``transfer``; the EMP's redirect back after a successful login."""
    response = choose(transfer.id, mock.registry_entry())
    assert response["statusCode"] == 200, response["body"][:300]
    browser.keep(response)
    _url, query = authorization(response)
    return decided(mock, query["state"], query["code_challenge"])


def back(query: dict[str, str], cookies: list[str]) -> dict[str, Any]:
    return callback_handler.handler(get_event(query, cookies), LAMBDA_CONTEXT)  # type: ignore[no-any-return]


def completes(browser: Browser, query: dict[str, str], *, junk: tuple[str, ...] = ()) -> None:
    response = back(query, [*junk, *browser.cookies()])
    assert response["statusCode"] == 303, response.get("body", "")[:300]
    page = back(dict(parse_qsl(urlsplit(response["headers"]["location"]).query)), [*junk, *browser.cookies()])
    assert page["statusCode"] == 200 and "Your results have been received" in page["body"]


def refused_as_another_browser(query: dict[str, str], cookies: list[str]) -> None:
    response = back(query, cookies)
    assert response["statusCode"] == 403 and ErrorCode.BROWSER_MISMATCH.value in response["body"]


def test_two_transfers_chosen_in_one_browser_both_complete(
    aws_env: AwsEnv, mock: MockEmp2, make_transfer: Callable[..., Transfer]
) -> None:
    browser, first, second = Browser(), make_transfer(), make_transfer()
    first_back = chosen(browser, first, mock)
    second_back = chosen(browser, second, mock)  # e.g. a tab left open, then another application
    assert set(browser.jar) == {flow_cookie_name(first.id), flow_cookie_name(second.id)}
    completes(browser, first_back)
    completes(browser, second_back)
    for transfer in (first, second):
        stored = aws_env.transfers.get(transfer.id)
        assert stored is not None and stored.status is Status.RECEIVED


def test_the_cookie_of_one_transfer_does_not_open_another(
    aws_env: AwsEnv, mock: MockEmp2, make_transfer: Callable[..., Transfer]
) -> None:
    browser, first, second = Browser(), make_transfer(), make_transfer()
    chosen(browser, first, mock)
    second_back = chosen(browser, second, mock)
    first_value = browser.jar[flow_cookie_name(first.id)]
    refused_as_another_browser(second_back, [f"{flow_cookie_name(first.id)}={first_value}"])
    refused_as_another_browser(second_back, [f"{flow_cookie_name(second.id)}={first_value}"])  # renamed
    refused_as_another_browser(second_back, [])
    stored = aws_env.transfers.get(second.id)
    assert stored is not None and stored.status is Status.PENDING and stored.code_sha256 is None
    completes(browser, second_back)  # the refusals used nothing up


def test_junk_flow_cookies_are_ignored_and_bounded(
    aws_env: AwsEnv, mock: MockEmp2, make_transfer: Callable[..., Transfer]
) -> None:
    browser, transfer = Browser(), make_transfer()
    query = chosen(browser, transfer, mock)
    malformed = (
        *(f"__Host-emrex_flow_{n}=x" for n in range(200)),
        f"__Host-emrex_flow_{'a' * 4000}=x",
        f"__Host-emrex_flow_{transfer.id[:12].upper()}=x",
        f"__Host-emrex_flow_{'0' * 12}={'v' * 5000}",
        "__Host-emrex_flow=x",
    )
    refused_as_another_browser(query, list(malformed))
    well_formed = [f"__Host-emrex_flow_{n:012x}={'v' * 43}" for n in range(100)]
    refused_as_another_browser(query, [*well_formed, *browser.cookies()])  # beyond the 20 considered
    completes(browser, query, junk=malformed)
