"""POST /callback through the real Lambda handler against moto: every return code, replay, forgery, refusals."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

import lxml.html
import pytest

from callback import handler as callback_handler
from emrex_emc.core.transfer import Transfer, support_code
from emrex_emc.local.elmo_factory import build_elmo, encode_elmo, sign_elmo
from tests.functions.callback_helpers import (
    APPLICANT,
    callback_event,
    emp_identity,
    form_for,
    items_with_prefix,
    ok_payload,
    other_identity,
    outbox_events,
    raw_item,
    s3_keys,
    signed_xml,
    state_for,
    trusted_emp,
)
from tests.functions.conftest import AwsEnv, rewired
from tests.lambda_context import LAMBDA_CONTEXT

fresh_handler = rewired(callback_handler)


@pytest.fixture
def transfer(make_transfer: Callable[..., Transfer]) -> Transfer:
    return make_transfer(emp=trusted_emp())


def _unsigned_xml() -> bytes:
    return build_elmo(given_names="Kari", family_name="Nordmann", birth_date=APPLICANT["birth_date"], courses=3)


def post(aws_env: AwsEnv, transfer: Transfer, form: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    event = callback_event(state_for(aws_env.signer, transfer), form, **kwargs)
    response: dict[str, Any] = callback_handler.handler(event, LAMBDA_CONTEXT)
    return response


def session(aws_env: AwsEnv, transfer: Transfer) -> dict[str, Any]:
    item = aws_env.transfers.get(transfer.id)
    assert item is not None
    return {"status": item.status.value, "outcome": item.outcome.to_item() if item.outcome else None}


def test_ok_is_verified_stored_and_queued_once(aws_env: AwsEnv, transfer: Transfer) -> None:
    payload = ok_payload()
    response = post(aws_env, transfer, form_for(transfer, "NCP_OK", payload))

    assert response["statusCode"] == 200
    page = response["body"]
    assert "Universiteit van Voorbeeld" in page and ">3<" in page and ">18<" in page
    assert table_of(page)["Attached documents (such as a PDF transcript)"] == "1"  # the PDF transcript
    assert f"session_id={transfer.id}&amp;outcome=received" in page
    csp = response["headers"]["content-security-policy"]
    assert csp.startswith("default-src 'none'") and "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
    stored = session(aws_env, transfer)
    assert stored["status"] == "received"
    outcome = stored["outcome"]
    assert outcome["identity"]["verdict"] == "MATCH"
    assert outcome["signature"]["algorithm"] == "rsa-sha256"
    assert outcome["summary"]["course_count"] == 3
    keys = s3_keys(aws_env.s3, aws_env.bucket)
    assert f"transfers/{transfer.id}/payload.txt" in keys and f"transfers/{transfer.id}/results.json" in keys
    assert any(k.startswith(f"transfers/{transfer.id}/attachments/0-") for k in keys)
    evidence = aws_env.s3.get_object(Bucket=aws_env.bucket, Key=f"transfers/{transfer.id}/payload.txt")["Body"]
    assert evidence.read() == payload.encode()
    [(detail_type, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    assert detail_type == "EMREX Results Received"
    assert detail["session_id"] == transfer.id and detail["applicant_id"] == transfer.applicant_id
    assert detail["emp"] == {
        "id": trusted_emp().id,
        "name": "Norwegian EMP",
        "country": "NO",
        "url": "https://emp.example.no/emrex",
        "protocol": "emrex-1",
    }
    assert detail["results"]["results_key"] == f"transfers/{transfer.id}/results.json"
    assert detail["event_id"] == outcome["event_id"]
    raw_detail = json.dumps(detail)
    assert "Nordmann" not in raw_detail and "1998-04-03" not in raw_detail  # never the ELMO or its learner
    [audit] = items_with_prefix(aws_env.dynamodb, aws_env.table, "AUDIT#")
    assert audit["signature_algorithm"] == "rsa-sha256" and audit["identity_verdict"] == "MATCH"
    assert audit["emp_id"] == trusted_emp().id and audit["certificate_sha256"]


@pytest.mark.parametrize(
    ("code", "status", "detail_type"),
    [
        ("EMP_OK", "received", "EMREX Results Received"),
        ("ncp_ok", "received", "EMREX Results Received"),
        ("NCP_CANCEL", "cancelled", "EMREX Transfer Cancelled"),
        ("emp_cancel", "cancelled", "EMREX Transfer Cancelled"),
        ("NCP_NO_RESULTS", "no_results", "EMREX No Results"),
        ("EMP_NO_RESULTS", "no_results", "EMREX No Results"),
        ("NCP_ERROR", "provider_error", "EMREX Provider Error"),
        ("Emp_Error", "provider_error", "EMREX Provider Error"),
        ("SOMETHING_ELSE", "provider_error", "EMREX Provider Error"),
        ("", "provider_error", "EMREX Provider Error"),
    ],
)
def test_each_return_code(aws_env: AwsEnv, transfer: Transfer, code: str, status: str, detail_type: str) -> None:
    elmo = ok_payload() if status == "received" else ""
    response = post(aws_env, transfer, form_for(transfer, code, elmo))

    assert response["statusCode"] == 200
    assert f"outcome={status}" in response["body"]
    assert session(aws_env, transfer)["status"] == status
    [(published_type, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    assert published_type == detail_type and detail["status"] == status
    if status != "received":
        assert s3_keys(aws_env.s3, aws_env.bucket) == []


def table_of(page: str) -> dict[str, str]:
    doc = lxml.html.fromstring(page)
    return {row.xpath("string(th)"): row.xpath("string(td)") for row in doc.xpath("//table//tr")}


def next_steps_of(page: str) -> list[str]:
    """The "What you can do" list of a page."""
    doc = lxml.html.fromstring(page)
    return [item.text_content() for item in doc.xpath("//h2/following-sibling::ul[1]/li")]


def test_received_without_attachments_mentions_none(aws_env: AwsEnv, transfer: Transfer) -> None:
    response = post(aws_env, transfer, form_for(transfer, "NCP_OK", ok_payload(with_pdf=False)))
    assert session(aws_env, transfer)["status"] == "received"
    assert set(table_of(response["body"])) == {"Institution", "Number of courses", "Credits (ECTS)"}
    assert next_steps_of(response["body"]) == []  # nothing to do


@pytest.mark.parametrize(
    ("code", "steps"),
    [
        ("NCP_CANCEL", ["If you did not mean to cancel, go back to your application and start the import again."]),
        (
            "NCP_NO_RESULTS",
            [
                "If you expected results, go back to your application, start the import again and check that you "
                "choose the country or institution where you studied.",
                "If you need help, contact the admissions office and quote the support code {code}.",
            ],
        ),
        (
            "NCP_ERROR",
            [
                "Such problems are usually temporary: go back to your application and try the import again later, "
                "for example in an hour.",
                "If you need help, contact the admissions office and quote the support code {code}.",
            ],
        ),
    ],
)
def test_an_outcome_without_results_says_what_to_do_next(
    aws_env: AwsEnv, transfer: Transfer, code: str, steps: list[str]
) -> None:
    response = post(aws_env, transfer, form_for(transfer, code, ""))
    assert next_steps_of(response["body"]) == [step.format(code=support_code(transfer.id)) for step in steps]


def test_a_rejected_import_says_what_to_do_next_in_the_transfer_language(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    transfer = make_transfer(emp=trusted_emp(), locale="fr-BE")
    response = post(aws_env, transfer, form_for(transfer, "NCP_OK", _tampered_payload()), accept_language="en")
    doc = lxml.html.fromstring(response["body"])
    assert doc.get("lang") == "fr"
    assert doc.xpath("//h1/text()") == ["Vos résultats n’ont pas pu être vérifiés"]
    assert next_steps_of(response["body"]) == [
        "Retournez à votre candidature et relancez l’importation.",
        "Si cela échoue à nouveau, le fournisseur rencontre peut-être un problème temporaire\u00a0: "
        "réessayez plus tard.",
        "Si vous avez besoin d’aide, contactez le service des admissions en indiquant le code d’assistance "
        f"{support_code(transfer.id)}.",
    ]
    assert doc.xpath("//strong[@class='code']/text()") == [support_code(transfer.id)]
    assert doc.xpath("//code/text()") == ["SIGNATURE_DIGEST_MISMATCH"]  # for support staff


def test_provider_message_is_truncated_and_escaped(aws_env: AwsEnv, transfer: Transfer) -> None:
    message = "<script>alert(1)</script>" + "x" * 2000
    response = post(aws_env, transfer, form_for(transfer, "NCP_ERROR", message=message))

    assert "<script>alert" not in response["body"] and "&lt;script&gt;alert(1)" in response["body"]
    [(_, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    assert detail["return_code"] == "NCP_ERROR"
    assert detail["return_message"] == message[:499] + "…"


def test_replay_shows_the_same_page_and_publishes_nothing(aws_env: AwsEnv, transfer: Transfer) -> None:
    form = form_for(transfer, "NCP_OK", ok_payload())
    first = post(aws_env, transfer, form)
    before = raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}")

    second = post(aws_env, transfer, form)

    assert second["statusCode"] == first["statusCode"] == 200
    assert second["body"] == first["body"]
    assert len(outbox_events(aws_env.dynamodb, aws_env.table)) == 1
    assert raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}") == before


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("NCP_OK", "ok"), ("NCP_OK", "other-ok")),
        (("NCP_CANCEL", ""), ("NCP_OK", "ok")),
        (("NCP_OK", "ok"), ("NCP_CANCEL", "")),
    ],
)
def test_a_different_post_for_a_decided_session_is_refused(
    aws_env: AwsEnv, transfer: Transfer, first: tuple[str, str], second: tuple[str, str]
) -> None:
    payloads = {"": "", "ok": ok_payload(), "other-ok": ok_payload(courses=5)}
    post(aws_env, transfer, form_for(transfer, first[0], payloads[first[1]]))
    before = raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}")
    keys_before = s3_keys(aws_env.s3, aws_env.bucket)

    response = post(aws_env, transfer, form_for(transfer, second[0], payloads[second[1]]))

    assert response["statusCode"] == 409
    assert "SESSION_ALREADY_COMPLETED" in response["body"]
    assert raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}") == before
    assert len(outbox_events(aws_env.dynamodb, aws_env.table)) == 1
    assert s3_keys(aws_env.s3, aws_env.bucket) == keys_before


def _tamper(token: str) -> str:
    last = "A" if token[-1] != "A" else "B"
    return token[:-1] + last


@pytest.mark.parametrize(
    ("make_state", "status", "code"),
    [
        (lambda env, t: _tamper(state_for(env.signer, t)), 400, "STATE_INVALID"),
        (lambda env, t: None, 400, "STATE_INVALID"),
        (lambda env, t: "garbage", 400, "STATE_INVALID"),
        (lambda env, t: state_for(env.signer, t, expires_at=t.deadline - 10_000), 410, "STATE_EXPIRED"),
    ],
    ids=["tampered", "missing", "garbage", "expired"],
)
def test_forged_or_expired_state_leaves_the_session_byte_identical(
    aws_env: AwsEnv, transfer: Transfer, make_state: Callable[..., str | None], status: int, code: str
) -> None:
    before = raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}")
    for return_code in ("NCP_CANCEL", "NCP_OK"):
        event = callback_event(make_state(aws_env, transfer), form_for(transfer, return_code, ok_payload()))
        response = callback_handler.handler(event, LAMBDA_CONTEXT)
        assert response["statusCode"] == status
        assert code in response["body"]
    assert raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}") == before
    assert items_with_prefix(aws_env.dynamodb, aws_env.table, "OUTBOX#") == []
    assert items_with_prefix(aws_env.dynamodb, aws_env.table, "AUDIT#") == []
    assert s3_keys(aws_env.s3, aws_env.bucket) == []


@pytest.mark.parametrize("posted", ["", "x" * 32, "wrong"])
def test_session_id_mismatch_is_refused_and_leaves_the_session_untouched(
    aws_env: AwsEnv, transfer: Transfer, posted: str
) -> None:
    before = raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}")
    form = {**form_for(transfer, "NCP_CANCEL"), "sessionId": posted}

    response = post(aws_env, transfer, form)

    assert response["statusCode"] == 400 and "SESSION_MISMATCH" in response["body"]
    assert raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}") == before
    assert outbox_events(aws_env.dynamodb, aws_env.table) == []


def test_state_bound_to_another_session_id_is_refused(aws_env: AwsEnv, transfer: Transfer) -> None:
    """A genuine state of this transfer but with a stale sessionId (e.g. before the EMP was re-chosen)."""
    from dataclasses import replace

    stale = replace(transfer, emrex_session_id="Z" * 32)
    event = callback_event(state_for(aws_env.signer, stale), form_for(stale, "NCP_CANCEL"))

    response = callback_handler.handler(event, LAMBDA_CONTEXT)

    assert response["statusCode"] == 400 and "SESSION_MISMATCH" in response["body"]
    assert session(aws_env, transfer)["status"] == "pending"


def _tampered_payload() -> str:
    xml = signed_xml().replace(b">18<", b">81<", 1) if b">18<" in signed_xml() else signed_xml()
    xml = xml.replace(b"Universiteit van Voorbeeld", b"Universiteit van Elders", 1)
    return encode_elmo(xml)


@pytest.mark.parametrize(
    ("make_payload", "code"),
    [
        (_tampered_payload, "SIGNATURE_DIGEST_MISMATCH"),
        (lambda: encode_elmo(sign_elmo(_unsigned_xml(), other_identity())), "SIGNATURE_UNTRUSTED_KEY"),
        (lambda: "%%% not base64 %%%", "BASE64_INVALID"),
        (lambda: base64.b64encode(gzip.compress(b"<html>not elmo</html>")).decode(), "NOT_ELMO"),
        (lambda: "", "PAYLOAD_EMPTY"),
    ],
    ids=["tampered", "other-key", "bad-base64", "not-elmo", "empty"],
)
def test_each_refusal_records_rejected_and_queues_exactly_one_rejection_event(
    aws_env: AwsEnv, transfer: Transfer, make_payload: Callable[[], str], code: str | None
) -> None:
    payload = make_payload()
    response = post(aws_env, transfer, form_for(transfer, "NCP_OK", payload))

    assert response["statusCode"] == 200
    stored = session(aws_env, transfer)
    assert stored["status"] == "rejected"
    error_code = stored["outcome"]["error"]["code"]
    if code is not None:
        assert error_code == code
    assert error_code in response["body"]
    assert "outcome=rejected" in response["body"]
    assert next_steps_of(response["body"]) == [
        "Go back to your application and start the import again.",
        "If it fails again, the provider may have a temporary problem: try again later.",
        f"If you need help, contact the admissions office and quote the support code {support_code(transfer.id)}.",
    ]
    [(detail_type, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    assert detail_type == "EMREX Results Rejected" and detail["error"]["code"] == error_code
    assert "summary" not in detail and "results" not in detail
    keys = s3_keys(aws_env.s3, aws_env.bucket)
    if payload:
        assert keys == [f"transfers/{transfer.id}/payload.txt"]  # the evidence, nothing derived from it
        assert detail["evidence"]["payload_key"] == keys[0]
    else:
        assert keys == [] and "evidence" not in detail


def test_identity_mismatch_is_received_but_flagged(aws_env: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer(emp=trusted_emp(), family_name="Jansen", locale="nl")
    response = post(aws_env, transfer, form_for(transfer, "EMP_OK", ok_payload()))

    assert response["statusCode"] == 200
    assert '<html lang="nl"' in response["body"] and "controleert of deze resultaten bij jou horen" in response["body"]
    [(_, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    assert detail["identity"]["verdict"] == "MISMATCH"


def test_body_too_large_gets_413_and_nothing_is_touched(
    aws_env: AwsEnv, transfer: Transfer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMREX_MAX_BODY_BYTES", "2048")
    callback_handler.reset()
    before = raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}")

    response = post(aws_env, transfer, form_for(transfer, "NCP_OK", ok_payload()))

    assert response["statusCode"] == 413 and "BODY_TOO_LARGE" in response["body"]
    assert raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}") == before
    assert s3_keys(aws_env.s3, aws_env.bucket) == []


def test_base64_encoded_api_gateway_body(aws_env: AwsEnv, transfer: Transfer) -> None:
    response = post(aws_env, transfer, form_for(transfer, "NCP_OK", ok_payload()), base64_body=True)

    assert response["statusCode"] == 200
    assert session(aws_env, transfer)["status"] == "received"


@pytest.mark.parametrize(
    "event_change",
    [
        {"body": "!!!not-base64", "isBase64Encoded": True},
        {"body": base64.b64encode(b"sessionId=\xff\xfe").decode(), "isBase64Encoded": True},
    ],
    ids=["undecodable-base64", "not-utf8"],
)
def test_unreadable_form_is_refused(aws_env: AwsEnv, transfer: Transfer, event_change: dict[str, Any]) -> None:
    event = {**callback_event(state_for(aws_env.signer, transfer), {}), **event_change}

    response = callback_handler.handler(event, LAMBDA_CONTEXT)

    assert response["statusCode"] == 400 and "FORM_INVALID" in response["body"]
    assert session(aws_env, transfer)["status"] == "pending"


def test_unknown_transfer_with_a_valid_state(aws_env: AwsEnv, transfer: Transfer) -> None:
    from dataclasses import replace

    ghost = replace(transfer, id="f" * 32)
    response = callback_handler.handler(
        callback_event(state_for(aws_env.signer, ghost), form_for(ghost, "NCP_CANCEL")), LAMBDA_CONTEXT
    )

    assert response["statusCode"] == 404 and "SESSION_NOT_FOUND" in response["body"]


def test_pending_session_past_its_deadline_is_expired(aws_env: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    transfer = make_transfer(emp=trusted_emp(), ttl=-60)
    before = raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}")
    event = callback_event(
        state_for(aws_env.signer, transfer, expires_at=transfer.deadline + 3600), form_for(transfer, "NCP_CANCEL")
    )

    response = callback_handler.handler(event, LAMBDA_CONTEXT)

    assert response["statusCode"] == 410 and "SESSION_EXPIRED" in response["body"]
    assert "outcome=expired" in response["body"]
    assert raw_item(aws_env.dynamodb, aws_env.table, f"SESSION#{transfer.id}") == before


def test_storage_failure_records_nothing_and_the_retry_succeeds(
    aws_env: AwsEnv, transfer: Transfer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ReadTimeoutError

    from emrex_emc.adapters.blobs import BlobStore

    real = BlobStore._put

    def timing_out(*args: Any, **kwargs: Any) -> Any:
        raise ReadTimeoutError(endpoint_url="https://s3.example")

    monkeypatch.setattr(BlobStore, "_put", timing_out)
    form = form_for(transfer, "NCP_OK", ok_payload())
    failed = post(aws_env, transfer, form)

    assert failed["statusCode"] == 503 and "STORAGE_UNAVAILABLE" in failed["body"]
    assert session(aws_env, transfer)["status"] == "pending"
    assert outbox_events(aws_env.dynamodb, aws_env.table) == []

    monkeypatch.setattr(BlobStore, "_put", real)
    assert post(aws_env, transfer, form)["statusCode"] == 200
    assert len(outbox_events(aws_env.dynamodb, aws_env.table)) == 1


def test_an_unexpected_failure_is_an_internal_error_page_and_records_nothing(
    aws_env: AwsEnv, transfer: Transfer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emrex_emc.adapters.blobs import BlobStore

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(BlobStore, "put_transfer_objects", broken)
    failed = post(aws_env, transfer, form_for(transfer, "NCP_OK", ok_payload()))

    assert failed["statusCode"] == 500 and "INTERNAL_ERROR" in failed["body"] and "a bug" not in failed["body"]
    assert session(aws_env, transfer)["status"] == "pending"
    assert outbox_events(aws_env.dynamodb, aws_env.table) == []


@pytest.mark.parametrize(
    ("return_url", "expected"),
    [
        ("https://uni.example/enrol/done", "https://uni.example/enrol/done?session_id=abc&outcome=received"),
        (
            "https://uni.example/enrol/done?step=3&lang=nl#top",
            "https://uni.example/enrol/done?step=3&lang=nl&session_id=abc&outcome=received#top",
        ),
        ("https://uni.example/e?session_id=evil&outcome=x", "https://uni.example/e?session_id=abc&outcome=received"),
        ("https://uni.example/e?q=a+b%26c", "https://uni.example/e?q=a+b%26c&session_id=abc&outcome=received"),
    ],
)
def test_return_link_keeps_the_query_and_sets_session_and_outcome(return_url: str, expected: str) -> None:
    from emrex_emc.web.outcome import return_link

    assert return_link(return_url, "abc", "received") == expected


def _emitted_metric_names(output: str) -> set[str]:
    names: set[str] = set()
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            names.update(metric["Name"] for metric in directive["Metrics"])
    return names


def test_a_refusal_emits_the_alarmed_verification_failure_metric(
    aws_env: AwsEnv, transfer: Transfer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    post(aws_env, transfer, form_for(transfer, "NCP_OK", _tampered_payload()))
    assert "VerificationFailures" in _emitted_metric_names(capsys.readouterr().out)


def test_an_accepted_payload_emits_no_verification_failure(
    aws_env: AwsEnv, transfer: Transfer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    post(aws_env, transfer, form_for(transfer, "NCP_OK", ok_payload()))
    names = _emitted_metric_names(capsys.readouterr().out)
    assert "CallbackLatency" in names and "VerificationFailures" not in names


def _per_emp_values(output: str) -> dict[str, tuple[str, float]]:
    """Metric name -> (emp_id, value) of the per-EMP metrics (dimensions emp_id + service)."""
    values: dict[str, tuple[str, float]] = {}
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            if directive["Dimensions"] == [["emp_id", "service"]]:
                for metric in directive["Metrics"]:
                    values[metric["Name"]] = (blob["emp_id"], blob[metric["Name"]][0])
    return values


def test_per_emp_metrics_for_the_dashboard_and_the_spike_alarm(
    aws_env: AwsEnv,
    make_transfer: Callable[..., Transfer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    emp = trusted_emp()
    accepted = make_transfer(emp=emp)
    post(aws_env, accepted, form_for(accepted, "NCP_OK", ok_payload()))
    values = _per_emp_values(capsys.readouterr().out)
    assert values["EmpRejected"] == (emp.id, 0) and values["EmpSha1Signature"] == (emp.id, 0)
    assert values["EmpCallbackLatency"][0] == emp.id and values["EmpCallbackLatency"][1] > 0

    refused = make_transfer(emp=emp)
    post(aws_env, refused, form_for(refused, "NCP_OK", _tampered_payload()))
    values = _per_emp_values(capsys.readouterr().out)
    assert values["EmpRejected"] == (emp.id, 1) and "EmpSha1Signature" not in values

    post(aws_env, refused, form_for(refused, "NCP_OK", _tampered_payload()))  # a replay: counted once only
    assert "EmpRejected" not in _per_emp_values(capsys.readouterr().out)

    sha1 = make_transfer(emp=emp)
    payload = encode_elmo(sign_elmo(_unsigned_xml(), emp_identity(), style="java-sha1-inclusive"))
    post(aws_env, sha1, form_for(sha1, "NCP_OK", payload))
    assert _per_emp_values(capsys.readouterr().out)["EmpSha1Signature"] == (emp.id, 1)
