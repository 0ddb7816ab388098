"""EMREX 2.0 through the real callback handler (moto, KMS, the mock EMP 2.0 in-process): every outcome, the same
pipeline and events as EMREX 1, and every refusal (state, browser, iss, replay, JWS, algorithm, size, time)."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from callback import handler as callback_handler
from emrex_emc.core.emrex2 import HttpAnswer
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.events import SCHEMA_VERSION
from emrex_emc.core.protocol import Status
from emrex_emc.local import elmo_factory
from emrex_emc.local.jose_signing import detached_jws
from tests.functions.callback_helpers import emp_identity, outbox_events
from tests.functions.conftest import AwsEnv, ClientKeyEnv, rewired
from tests.functions.emrex2_support import (
    EMC_BASE,
    EMP_KEY,
    KARI,
    Flow,
    mock_emp,
    raising,
    start_flow,
    with_certificates,
)
from tests.functions.test_event_schemas import _schemas

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


fresh_handler = rewired(callback_handler)


@pytest.fixture
def flow(aws_env: AwsEnv, client_key: ClientKeyEnv, monkeypatch: pytest.MonkeyPatch) -> Flow:
    return start_flow(aws_env, client_key, monkeypatch)


def events(flow: Flow) -> list[tuple[str, dict[str, Any]]]:
    found = outbox_events(flow.aws.dynamodb, flow.aws.table)
    schemas = _schemas()
    for detail_type, detail in found:
        jsonschema.validate(detail, schemas[detail_type], format_checker=Draft202012Validator.FORMAT_CHECKER)
    return found


def completed(flow: Flow, query: dict[str, str]) -> dict[str, Any]:
    """The redirect back, then the page its 303 leads to."""
    response = flow.redirect(query)
    assert response["statusCode"] == 303, response.get("body", "")[:500]
    location = response["headers"]["location"]
    assert location.startswith(f"{EMC_BASE}/callback?state=")  # configuration, never the request's Host
    assert "code=" not in location and ("code" not in query or query["code"] not in location)
    page = flow.outcome_page(location)
    assert page["statusCode"] == 200
    return page


def test_results_are_fetched_verified_stored_and_published_like_emrex_1(flow: Flow) -> None:
    page = completed(flow, flow.authorize("ok"))
    assert "Your results have been received" in page["body"] and ">3<" in page["body"]
    assert flow.emp.calls == ["token", "results"]
    stored = flow.stored()
    assert stored.status is Status.RECEIVED and stored.outcome is not None
    assert stored.outcome.identity_verdict == "MATCH" and stored.outcome.return_code == "OK"
    signature = stored.outcome.signature.to_json()  # type: ignore[union-attr]
    assert signature["format"] == "jws" and signature["algorithm"] == "RS256" and signature["enveloped"] is None
    assert signature["public_key_sha256"] == hashlib.sha256(flow.transfer.emp_public_key).hexdigest()
    [(detail_type, detail)] = events(flow)
    assert detail_type == "EMREX Results Received"
    assert (detail["protocol"], detail["schema_version"]) == ("emrex-2", SCHEMA_VERSION)
    assert (detail["emp"]["protocol"], detail["emp"]["url"]) == ("emrex-2", flow.transfer.emp.url)  # type: ignore[union-attr]
    assert detail["emrex_session_id"] == flow.transfer.emrex_session_id and len(detail["emrex_session_id"]) == 32
    assert detail["signature"]["format"] == "jws" and detail["emp"]["id"] == flow.mock.registry_entry().id
    assert [w["code"] for w in detail["warnings"]][:1] == ["XML_SIGNATURE_NOT_CHECKED"]
    body = flow.aws.s3.get_object(Bucket=flow.aws.bucket, Key=detail["results"]["payload_key"])["Body"].read()
    assert detail["payload_sha256"] == hashlib.sha256(body).hexdigest() and body.startswith(b"<?xml")
    evidence = json.loads(
        flow.aws.s3.get_object(Bucket=flow.aws.bucket, Key=detail["results"]["signature_key"])["Body"].read()
    )
    assert evidence["x_signature"].count(".") == 2 and "BEGIN PUBLIC KEY" in evidence["public_key"]
    assert evidence["public_key_sha256"] == signature["public_key_sha256"]


def test_support_reverifies_a_2_0_transfer_and_refuses_unreadable_evidence(
    flow: Flow, capsys: pytest.CaptureFixture[str]
) -> None:
    from emrex_emc.adapters.blobs import signature_key
    from emrex_emc.cli import main
    from tests.commands.test_transfers_stack_cli import STACK, deploy

    completed(flow, flow.authorize("ok"))
    deploy(flow.aws)
    capsys.readouterr()
    assert main(["transfers", "reverify", flow.transfer.id, "--json", "--stack", STACK]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["verdict"], report["agrees_with_stored_outcome"]) == ("received", True)
    assert report["signature"]["format"] == "jws"

    key = signature_key(flow.transfer.id)
    flow.aws.s3.put_object(Bucket=flow.aws.bucket, Key=key, Body=b"[" * 50_000 + b"]" * 50_000)
    assert main(["transfers", "reverify", flow.transfer.id, "--json", "--stack", STACK]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "x-signature.json evidence is unreadable" in err and "Traceback" not in err


def test_access_denied_is_a_cancelled_transfer(flow: Flow) -> None:
    query = flow.authorize("access-denied")
    assert query["error"] == "access_denied" and "code" not in query
    page = completed(flow, query)
    assert "The transfer was cancelled" in page["body"]
    assert flow.emp.calls == []  # an error redirect never calls the EMP
    [(detail_type, detail)] = events(flow)
    assert detail_type == "EMREX Transfer Cancelled" and detail["protocol"] == "emrex-2"
    assert flow.stored().outcome.return_code == "ACCESS_DENIED"  # type: ignore[union-attr]


def test_204_is_no_results(flow: Flow) -> None:
    assert "No results were found" in completed(flow, flow.authorize("no-results"))["body"]
    [(detail_type, detail)] = events(flow)
    assert detail_type == "EMREX No Results" and detail["payload_sha256"] == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("scenario", ["tampered-body", "wrong-key"])
def test_a_body_the_jws_does_not_verify_is_rejected_and_kept_as_evidence(flow: Flow, scenario: str) -> None:
    assert "could not be verified" in completed(flow, flow.authorize(scenario))["body"]
    [(detail_type, detail)] = events(flow)
    assert detail_type == "EMREX Results Rejected" and detail["error"]["code"] == "JWS_INVALID"
    assert set(detail["evidence"]) == {"bucket", "payload_key", "payload_sha256", "signature_key"}


def test_other_oauth_errors_are_provider_errors_with_the_error_upper_cased(flow: Flow) -> None:
    query = {"error": "server_error", "error_description": "the \x1b[2J registrar is down", "state": flow.state}
    page = completed(flow, query)
    assert "The provider reported a problem" in page["body"]
    [(detail_type, detail)] = events(flow)
    assert detail_type == "EMREX Provider Error" and detail["return_code"] == "SERVER_ERROR"
    assert detail["return_message"] == "the [2J registrar is down"


def test_a_replayed_code_never_reaches_the_token_endpoint_again(flow: Flow) -> None:
    query = flow.authorize("ok")
    completed(flow, query)
    again = flow.redirect(query)
    assert again["statusCode"] == 303
    assert flow.emp.calls == ["token", "results"] and len(events(flow)) == 1
    other_code = flow.redirect({**query, "code": "another-code"})
    assert other_code["statusCode"] == 409 and "SESSION_ALREADY_COMPLETED" in other_code["body"]
    assert flow.emp.calls == ["token", "results"]


def test_a_code_redeemed_by_a_request_still_running_is_refused(flow: Flow) -> None:
    query = flow.authorize("ok")
    assert flow.aws.transfers.redeem_code(flow.transfer.id, code_sha256="0" * 64, now=flow.transfer.deadline - 10)
    response = flow.redirect(query)
    assert response["statusCode"] == 409 and flow.emp.calls == [] and events(flow) == []


@pytest.mark.parametrize(
    ("cookie", "code"),
    [(None, ErrorCode.BROWSER_MISMATCH), ("another-browser", ErrorCode.BROWSER_MISMATCH)],
)
def test_another_browser_is_refused_before_anything_is_read(flow: Flow, cookie: str | None, code: ErrorCode) -> None:
    response = flow.redirect(flow.authorize("ok"), cookie=cookie)
    assert response["statusCode"] == 403 and code.value in response["body"]
    assert flow.emp.calls == [] and flow.stored().status is Status.PENDING and flow.stored().code_sha256 is None


@pytest.mark.parametrize(
    "state",
    ["", "k2.forged.mac", "x" * 600],
)
def test_a_bad_state_is_refused(flow: Flow, state: str) -> None:
    response = flow.redirect({**flow.authorize("ok"), "state": state})
    assert response["statusCode"] == 400 and "STATE_INVALID" in response["body"] and flow.emp.calls == []


def test_an_emrex_1_state_is_not_accepted_for_a_redirect(flow: Flow) -> None:
    from tests.functions.callback_helpers import state_for

    emrex1_state = state_for(flow.aws.signer, flow.transfer)
    response = flow.redirect({**flow.authorize("ok"), "state": emrex1_state})
    assert response["statusCode"] == 400 and "STATE_INVALID" in response["body"]


def test_an_issuer_other_than_the_emp_is_a_mix_up(flow: Flow) -> None:
    response = flow.redirect({**flow.authorize("ok"), "iss": "https://attacker.example"})
    assert response["statusCode"] == 400 and "ISSUER_MISMATCH" in response["body"]
    assert flow.emp.calls == [] and flow.stored().status is Status.PENDING
    without_iss = {key: value for key, value in flow.authorize("ok").items() if key != "iss"}
    completed(flow, without_iss)  # the EMP need not send iss
    assert flow.stored().status is Status.RECEIVED


@pytest.mark.parametrize(
    "query",
    [{"code": "c", "error": "access_denied"}, {}, {"code": "bad code"}],
)
def test_a_redirect_that_is_neither_code_nor_error_is_refused(flow: Flow, query: dict[str, str]) -> None:
    response = flow.redirect({**query, "state": flow.state})
    assert response["statusCode"] == 400 and "OAUTH_RESPONSE_INVALID" in response["body"]


def test_a_wrong_pkce_verifier_is_the_emps_invalid_grant(flow: Flow) -> None:
    completed(flow, flow.authorize("ok", challenge="A" * 43))
    [(detail_type, detail)] = events(flow)
    assert detail_type == "EMREX Provider Error" and detail["return_code"] == "INVALID_GRANT"
    assert flow.emp.calls == ["token"]


def test_a_jws_of_another_algorithm_is_refused(flow: Flow) -> None:
    def hs256_header(answer: HttpAnswer) -> HttpAnswer:
        return HttpAnswer(
            200, answer.body, {"x-signature": detached_jws(answer.body, EMP_KEY, header={"alg": "HS256"})}
        )

    flow.emp.override["results"] = hs256_header
    completed(flow, flow.authorize("ok"))
    [(_, detail)] = events(flow)
    assert detail["error"]["code"] == "JWS_ALGORITHM_FORBIDDEN"


def test_an_x_signature_algorithm_other_than_rs256_is_refused(flow: Flow) -> None:
    flow.emp.override["results"] = lambda answer: HttpAnswer(
        200, answer.body, {**(answer.headers or {}), "x-signature-algorithm": "none"}
    )
    completed(flow, flow.authorize("ok"))
    assert events(flow)[0][1]["error"]["code"] == "JWS_ALGORITHM_FORBIDDEN"


def test_results_without_x_signature_are_rejected(flow: Flow) -> None:
    flow.emp.override["results"] = lambda answer: HttpAnswer(200, answer.body, {"content-type": "application/xml"})
    completed(flow, flow.authorize("ok"))
    assert events(flow)[0][1]["error"]["code"] == "JWS_MISSING"


def test_oversized_results_are_rejected(flow: Flow) -> None:
    flow.emp.override["results"] = raising(EmrexError(ErrorCode.PAYLOAD_TOO_LARGE, "larger than 67108864 bytes"))
    completed(flow, flow.authorize("ok"))
    [(detail_type, detail)] = events(flow)
    assert detail_type == "EMREX Results Rejected" and detail["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "evidence" not in detail


@pytest.mark.parametrize("endpoint", ["token", "results"])
def test_a_slow_emp_ends_the_transfer_as_temporarily_unavailable(flow: Flow, endpoint: str) -> None:
    flow.emp.override[endpoint] = raising(
        EmrexError(ErrorCode.EMP_UNAVAILABLE, "emp2.example.nl did not answer in time")
    )
    completed(flow, flow.authorize("ok"))
    [(detail_type, detail)] = events(flow)
    assert detail_type == "EMREX Provider Error" and detail["return_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "did not answer in time" in detail["return_message"]


def test_a_kms_failure_leaves_the_code_unused_so_a_reload_completes(
    flow: Flow, client_key: ClientKeyEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = flow.authorize("ok")
    monkeypatch.setenv("EMREX_CLIENT_KEYS", "emc-key-1=alias/deleted-by-mistake")
    callback_handler.reset()
    response = flow.redirect(query)
    assert response["statusCode"] == 503 and "CLIENT_KEY_UNAVAILABLE" in response["body"]
    assert response["headers"]["retry-after"] == "60"
    assert flow.emp.calls == [] and flow.stored().code_sha256 is None
    monkeypatch.setenv("EMREX_CLIENT_KEYS", f"emc-key-1={client_key.key_id}")
    callback_handler.reset()
    completed(flow, query)
    assert flow.stored().status is Status.RECEIVED


def test_an_enveloped_xml_signature_inside_is_checked_when_a_certificate_is_known(
    aws_env: AwsEnv, client_key: ClientKeyEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    emp = with_certificates(mock_emp(client_key).registry_entry(), emp_identity().cert_der)
    flow = start_flow(aws_env, client_key, monkeypatch, emp=emp)

    def signed_inside(answer: HttpAnswer) -> HttpAnswer:
        body = elmo_factory.sign_elmo(answer.body, emp_identity(), style="ds-sha256-exclusive")
        return HttpAnswer(200, body, {"x-signature": detached_jws(body, EMP_KEY)})

    flow.emp.override["results"] = signed_inside
    completed(flow, flow.authorize("ok"))
    signature = flow.stored().outcome.signature.to_json()  # type: ignore[union-attr]
    assert signature["format"] == "jws" and signature["enveloped"]["format"] == "xmldsig"
    assert signature["enveloped"]["certificate"]["sha256"] == hashlib.sha256(emp_identity().cert_der).hexdigest()


def test_a_failing_xml_signature_inside_rejects_the_results(
    aws_env: AwsEnv, client_key: ClientKeyEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.functions.callback_helpers import other_identity

    emp = with_certificates(mock_emp(client_key).registry_entry(), emp_identity().cert_der)
    flow = start_flow(aws_env, client_key, monkeypatch, emp=emp)

    def signed_by_someone_else(answer: HttpAnswer) -> HttpAnswer:
        body = elmo_factory.sign_elmo(answer.body, other_identity(), style="ds-sha256-exclusive")
        return HttpAnswer(200, body, {"x-signature": detached_jws(body, EMP_KEY)})

    flow.emp.override["results"] = signed_by_someone_else
    completed(flow, flow.authorize("ok"))
    assert events(flow)[-1][1]["error"]["code"] in {"SIGNATURE_UNTRUSTED_KEY", "SIGNATURE_INVALID"}


def test_the_outcome_page_needs_the_state_and_the_browser(flow: Flow) -> None:
    before = flow.redirect({"state": flow.state})
    assert before["statusCode"] == 400 and "OAUTH_RESPONSE_INVALID" in before["body"]
    response = flow.redirect(flow.authorize("ok"))
    location = response["headers"]["location"]
    query = dict(parse_qsl(urlsplit(location).query))
    assert flow.redirect(query, cookie=None)["statusCode"] == 403
    assert flow.redirect(query)["statusCode"] == 200


def test_a_different_person_is_received_with_a_mismatch_verdict(flow: Flow) -> None:
    from emrex_emc.local.mock_emp import OTHER_PERSON

    completed(flow, flow.authorize("ok", learner=OTHER_PERSON))
    assert flow.stored().outcome.identity_verdict == "MISMATCH"  # type: ignore[union-attr]
    assert KARI.family_name not in json.dumps(events(flow))


def test_codes_verifiers_assertions_and_tokens_are_never_logged(
    flow: Flow, captured_logs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    completed(flow, flow.authorize("ok"))
    flow.redirect(flow.authorize("wrong-key"))  # a refusal logs too
    assert len(flow.emp.secrets) == 4 and all(len(secret) >= 20 for secret in flow.emp.secrets)
    logged = "\n".join(captured_logs) + capsys.readouterr().out
    assert "callback handled" in logged
    for secret in flow.emp.secrets:
        assert secret not in logged
    assert json.dumps(events(flow)).count(flow.emp.secrets[0]) == 0


def test_storing_failing_after_the_code_was_used_ends_the_transfer_as_unavailable(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code cannot fetch the results again: rather than a 503 whose every retry is refused (409) until the
    transfer expires, the student learns to start again and the SIS gets a Provider Error."""
    from emrex_emc.adapters.blobs import BlobStore

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise EmrexError(ErrorCode.STORAGE_UNAVAILABLE, "S3 is slowing down")

    monkeypatch.setattr(BlobStore, "put_transfer_objects", unavailable)
    page = completed(flow, flow.authorize("ok"))
    assert flow.emp.calls == ["token", "results"]
    assert flow.stored().status is Status.PROVIDER_ERROR and "start again" in page["body"]
    [(detail_type, detail)] = events(flow)
    assert detail_type == "EMREX Provider Error" and detail["return_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "could not be stored" in detail["return_message"]


def test_when_nothing_can_be_stored_after_the_code_was_used_the_failure_stands(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emrex_emc.adapters.blobs import BlobStore
    from emrex_emc.adapters.outcomes import OutcomeStore

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise EmrexError(ErrorCode.STORAGE_UNAVAILABLE, "storage is down")

    monkeypatch.setattr(BlobStore, "put_transfer_objects", unavailable)
    monkeypatch.setattr(OutcomeStore, "record", unavailable)
    response = flow.redirect(flow.authorize("ok"))
    assert response["statusCode"] == 503 and "STORAGE_UNAVAILABLE" in response["body"]
    assert flow.stored().status is Status.PENDING and events(flow) == []


def test_an_error_redirect_after_the_code_was_used_does_not_override_the_results_on_their_way(flow: Flow) -> None:
    query = flow.authorize("ok")
    assert flow.aws.transfers.redeem_code(flow.transfer.id, code_sha256="0" * 64, now=flow.transfer.deadline - 10)
    denied = flow.redirect({"state": query["state"], "error": "access_denied"})
    assert denied["statusCode"] == 409 and "SESSION_ALREADY_COMPLETED" in denied["body"]
    assert flow.stored().status is Status.PENDING and events(flow) == []
