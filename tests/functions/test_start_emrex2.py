"""Choosing an EMREX 2.0 EMP on the one chooser: the authorization request, PKCE, the flow cookie, the state."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import lxml.html
import pytest

from emrex_emc.core.elmo.model import Issuer
from emrex_emc.core.elmo.primitives import Identifier
from emrex_emc.core.emrex2 import code_challenge, flow_cookie_hash
from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.provenance import assess_provenance
from emrex_emc.core.registry import Emp
from emrex_emc.core.transfer import Transfer
from start_session import handler as start
from tests.functions.conftest import CLIENT_ID, AwsEnv, ClientKeyEnv, rewired
from tests.functions.emrex2_support import EMP2_BASE, mock_emp
from tests.functions.test_start_session import NO, OSLO, SE, choose, get_page, labels, store_snapshot

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


fresh_handler = rewired(start)


@pytest.fixture
def emrex2_emp(client_key: ClientKeyEnv) -> Emp:
    return mock_emp(client_key).registry_entry()


@pytest.fixture
def registry(aws_env: AwsEnv, emrex2_emp: Emp) -> AwsEnv:
    store_snapshot(aws_env, emps=(SE, NO, emrex2_emp))
    return aws_env


def authorization(response: dict[str, Any]) -> tuple[str, dict[str, str]]:
    doc = lxml.html.fromstring(response["body"])
    (href,) = doc.xpath("//a[@id='emrex-authorize']/@href")
    (refresh,) = doc.xpath("//meta[@http-equiv='refresh']/@content")
    assert refresh == f"0;url={href}"
    parts = urlsplit(href)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query))


def test_both_protocols_are_listed_together(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], emrex2_emp: Emp
) -> None:
    names = labels(get_page(make_transfer().id))
    assert emrex2_emp.name in names and SE.name in names
    assert "emrex-2" not in get_page(make_transfer().id)["body"]  # the protocol is invisible to the student


def test_choosing_a_2_0_emp_sends_the_browser_to_its_authorization_request(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], emrex2_emp: Emp
) -> None:
    transfer = make_transfer()
    response = choose(transfer.id, emrex2_emp)
    assert response["statusCode"] == 200
    endpoint, query = authorization(response)
    assert endpoint == emrex2_emp.url
    assert set(query) == {
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
    assert (query["response_type"], query["client_id"], query["code_challenge_method"]) == ("code", CLIENT_ID, "S256")
    assert query["redirect_uri"] == "https://emc.example/callback"  # EMREX_PUBLIC_BASE_URL, never the Host

    stored = registry.transfers.get(transfer.id)
    assert stored is not None and stored.protocol is ProtocolVersion.EMREX_2
    assert stored.emp_endpoints == emrex2_emp.emrex2 and stored.emp_public_key == emrex2_emp.public_key
    assert stored.code_verifier is not None and len(stored.code_verifier) >= 43
    assert query["code_challenge"] == code_challenge(stored.code_verifier)
    assert stored.code_verifier not in response["body"]  # the verifier stays server-side

    (cookie,) = response["cookies"]
    name_value, *attributes = [part.strip() for part in cookie.split(";")]
    name, value = name_value.split("=", 1)
    assert name == f"__Host-emrex_flow_{transfer.id[:12]}"  # one cookie per transfer
    assert {"Path=/", "HttpOnly", "SameSite=Lax", "Secure"} <= set(attributes)
    claims = registry.signer.verify(query["state"], now=transfer.deadline - 60)
    assert claims.protocol is ProtocolVersion.EMREX_2 and claims.browser == flow_cookie_hash(value)
    assert claims.session_id == stored.emrex_session_id and claims.emp_id == emrex2_emp.id
    assert response["headers"]["content-security-policy"].startswith("default-src 'none'")
    assert "script-src 'none'" in response["headers"]["content-security-policy"]


def test_each_choice_gets_its_own_verifier_and_cookie(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], emrex2_emp: Emp
) -> None:
    first, second = (authorization(choose(make_transfer().id, emrex2_emp))[1] for _ in range(2))
    assert first["code_challenge"] != second["code_challenge"] and first["state"] != second["state"]


def test_over_local_http_the_cookie_has_no_secure_and_no_host_prefix(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], emrex2_emp: Emp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMREX_PUBLIC_BASE_URL", "http://127.0.0.1:8080")
    transfer = make_transfer()
    response = choose(transfer.id, emrex2_emp)
    (cookie,) = response["cookies"]
    assert cookie.startswith(f"emrex_flow_{transfer.id[:12]}=") and "Secure" not in cookie and "SameSite=Lax" in cookie
    assert authorization(response)[1]["redirect_uri"] == "http://127.0.0.1:8080/callback"


def test_without_an_emrex2_identity_2_0_emps_are_not_offered(
    registry: AwsEnv, make_transfer: Callable[..., Transfer], emrex2_emp: Emp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMREX_CLIENT_ID")
    assert emrex2_emp.name not in labels(get_page(make_transfer().id))
    assert choose(make_transfer().id, emrex2_emp)["statusCode"] == 400  # EMP_UNKNOWN


def test_an_institution_in_both_registries_is_listed_once_as_2_0(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], emrex2_emp: Emp
) -> None:
    twin = replace(NO, name=emrex2_emp.name, country=emrex2_emp.country)
    store_snapshot(aws_env, emps=(twin, SE, emrex2_emp))
    page = get_page(make_transfer().id)
    assert labels(page).count(emrex2_emp.name) == 1
    doc = lxml.html.fromstring(page["body"])
    assert doc.xpath(f"//input[@id='emp-{emrex2_emp.id}']") and not doc.xpath(f"//input[@id='emp-{twin.id}']")
    transfer = make_transfer()
    choose(transfer.id, emrex2_emp)
    stored = aws_env.transfers.get(transfer.id)
    assert stored is not None and stored.pinned_certs == twin.certificates  # checks an XML signature inside
    assert stored.cert_fingerprints == tuple(hashlib.sha256(der).hexdigest() for der in twin.certificates)


def test_a_2_0_emp_with_a_catalogue_twin_covers_the_twins_institutions(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], emrex2_emp: Emp
) -> None:
    twin = replace(NO, name=emrex2_emp.name, country=emrex2_emp.country, institutions=(), covered=(OSLO,))
    proven_twin = replace(twin, url=f"{EMP2_BASE}/emrex")  # proof: the host its 2.0 results come from
    store_snapshot(aws_env, emps=(proven_twin, SE, emrex2_emp))
    assert labels(get_page(make_transfer().id, query={"q": "Oslo"})) == [emrex2_emp.name]
    assert pinned_verdict(aws_env, make_transfer, emrex2_emp) == "covered"
    assert pinned_verdict(aws_env, make_transfer, SE) == "not_covered"  # Ladok cannot vouch for Oslo


def test_a_2_0_emp_named_like_a_catalogue_emp_covers_none_of_its_institutions_without_proof(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], emrex2_emp: Emp
) -> None:
    namesake = replace(NO, name=emrex2_emp.name, country=emrex2_emp.country, institutions=(), covered=(OSLO,))
    store_snapshot(aws_env, emps=(namesake, SE, emrex2_emp))
    assert labels(get_page(make_transfer().id)).count(emrex2_emp.name) == 1  # still listed once, as 2.0
    assert labels(get_page(make_transfer().id, query={"q": "Oslo"})) == []
    assert pinned_verdict(aws_env, make_transfer, emrex2_emp) == "not_covered"


def pinned_verdict(aws_env: AwsEnv, make_transfer: Callable[..., Transfer], emp: Emp) -> str:
    """The provenance of a report from the University of Oslo, judged with the coverage pinned at the choice."""
    transfer = make_transfer()
    choose(transfer.id, emp)
    stored = aws_env.transfers.get(transfer.id)
    assert stored is not None and stored.pinned_coverage is not None
    oslo = Issuer(identifiers=(Identifier("N OSLO01", "erasmus"),), country=emp.country)
    return assess_provenance([oslo], stored.pinned_coverage).verdict
