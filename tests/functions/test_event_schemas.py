"""Every event the callback queues validates against the JSON Schema of its detail-type."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from callback import handler as callback_handler
from emrex_emc.core.events import DetailType
from emrex_emc.core.provenance import Coverage
from emrex_emc.core.registry import CoveredInstitution, Emp
from emrex_emc.core.transfer import Transfer
from emrex_emc.local.elmo_factory import ATHENS, OSLO, Enrolment, Institution, build_elmo_21, encode_elmo, sign_elmo
from tests.functions.callback_helpers import (
    callback_event,
    emp_identity,
    form_for,
    ok_payload,
    outbox_events,
    state_for,
    trusted_emp,
)
from tests.functions.conftest import AwsEnv, rewired
from tests.lambda_context import LAMBDA_CONTEXT

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "functions" / "emrex_emc" / "schemas" / "events"


def _schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        schemas[schema["x-detail-type"]] = schema
    return schemas


def test_one_valid_schema_per_detail_type() -> None:
    schemas = _schemas()
    assert set(schemas) == {d.value for d in DetailType}
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
        assert schema["description"] and all("description" in p or "const" in p for p in schema["properties"].values())


fresh_handler = rewired(callback_handler)


@pytest.mark.parametrize(
    ("code", "elmo", "message"),
    [
        ("NCP_OK", "ok", ""),
        ("NCP_OK", "tampered", ""),
        ("NCP_OK", "", ""),
        ("EMP_CANCEL", "", ""),
        ("NCP_NO_RESULTS", "", ""),
        ("NCP_ERROR", "", "x" * 900),
        ("BOGUS", "", ""),
    ],
)
def test_published_events_validate(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], code: str, elmo: str, message: str
) -> None:
    payload = {"ok": ok_payload(), "tampered": ok_payload().replace("A", "B", 5), "": ""}[elmo]
    transfer = make_transfer(emp=trusted_emp())
    event = callback_event(state_for(aws_env.signer, transfer), form_for(transfer, code, payload, message))
    assert callback_handler.handler(event, LAMBDA_CONTEXT)["statusCode"] == 200

    [(detail_type, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    jsonschema.validate(detail, _schemas()[detail_type], format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_schema_rejects_an_event_carrying_the_document() -> None:
    schema = _schemas()["EMREX Results Received"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"elmo": "<elmo/>"}, schema)


def _greek_emp() -> Emp:
    athens = CoveredInstitution(hei_id="uoa.gr", other_ids=(("erasmus", "G  ATHINE01"),), names=(("en", "UoA"),))
    return replace(trusted_emp(), country="GR", covered=(athens,))


PROOF = Enrolment(ATHENS, dt.date(2022, 9, 1), dt.date(2024, 9, 1), dt.date(2025, 8, 31))


@pytest.mark.parametrize(
    ("issuer", "document_type", "verdict"),
    [
        (ATHENS, "Diploma", "covered"),
        (ATHENS, "Enrolment", "covered"),
        (OSLO, "Diploma", "not_covered"),
    ],
)
def test_an_elmo_2_1_result_event_carries_document_types_provenance_and_identity_methods(
    aws_env: AwsEnv,
    make_transfer: Callable[..., Transfer],
    issuer: Institution,
    document_type: str,
    verdict: str,
) -> None:
    xml = build_elmo_21(
        given_names="Georgios",
        family_name="Papadopoulos",
        birth_date=dt.date(1999, 4, 5),
        alternative_name=("Γεώργιος Παπαδόπουλος", "el"),
        issuer=issuer,
        document_type=document_type,
        enrolment=PROOF if document_type == "Enrolment" else None,
    )
    emp = _greek_emp()
    transfer = make_transfer(
        emp=emp,
        given_names="Γεώργιος",
        family_name="Παπαδόπουλος",
        birth_date="1999-04-05",
        pinned_coverage=Coverage.of(emp, [emp]),
    )
    payload = encode_elmo(sign_elmo(xml, emp_identity(), style="ds-sha256-exclusive"))
    event = callback_event(state_for(aws_env.signer, transfer), form_for(transfer, "NCP_OK", payload))
    assert callback_handler.handler(event, LAMBDA_CONTEXT)["statusCode"] == 200

    [(detail_type, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    jsonschema.validate(detail, _schemas()[detail_type], format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert detail["document_types"] == [document_type] == detail["summary"]["document_types"]
    hei_id = "uoa.gr" if verdict == "covered" else "uio.no"
    assert detail["provenance"] == {"verdict": verdict, "reports": [{"index": 0, "verdict": verdict, "hei_id": hei_id}]}
    assert detail["identity"]["verdict"] == "MATCH"
    assert [field["method"] for field in detail["identity"]["fields"]] == [
        "alternative_name",
        "alternative_name",
        "exact",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"provenance": {"verdict": "trusted", "reports": []}},
        {"provenance": {"verdict": "covered", "reports": [{"index": 0, "verdict": "covered"}]}},
        {"provenance": None},
        {"document_types": ["Transcript"]},
    ],
)
def test_the_schema_rejects_malformed_document_types_and_provenance(change: dict[str, Any]) -> None:
    schema = _schemas()["EMREX Results Received"]
    required = {key: None for key in schema["required"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**required, **change}, {**schema, "required": list(change)})


def test_every_detail_names_its_protocol_and_schema_version(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    from emrex_emc.core.events import SCHEMA_VERSION

    transfer = make_transfer(emp=trusted_emp())
    event = callback_event(state_for(aws_env.signer, transfer), form_for(transfer, "NCP_OK", ok_payload()))
    callback_handler.handler(event, LAMBDA_CONTEXT)
    [(_, detail)] = outbox_events(aws_env.dynamodb, aws_env.table)
    assert (detail["protocol"], detail["schema_version"]) == ("emrex-1", SCHEMA_VERSION)
    assert detail["signature"]["format"] == "xmldsig"


def _as_version_2(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail without what version 3 added (docs/CHANGELOG.md): what a version 2 EMC published."""
    emp = {key: value for key, value in detail["emp"].items() if key not in {"url", "protocol"}}
    return {**detail, "emp": emp, "schema_version": 2}


def _as_version_1(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail without what versions 2 and 3 added (docs/CHANGELOG.md): what a version 1 EMC published."""
    old = {key: value for key, value in _as_version_2(detail).items() if key not in _ADDED_IN_2}
    if old.get("signature"):
        old["signature"] = {k: v for k, v in old["signature"].items() if k != "format"}
    if old.get("summary"):
        old["summary"] = {k: v for k, v in old["summary"].items() if k != "document_types"}
    if old.get("identity"):
        fields = [{k: v for k, v in field.items() if k != "method"} for field in old["identity"]["fields"]]
        old["identity"] = {**old["identity"], "fields": fields}
    return old


_ADDED_IN_2 = {"protocol", "schema_version", "document_types", "provenance"}


def test_events_of_schema_versions_1_and_2_still_validate(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer]
) -> None:
    """The bus archive replays events of versions 1 and 2: the extended schemas accept them unchanged."""
    schemas = _schemas()
    for code, payload in (("NCP_OK", ok_payload()), ("NCP_CANCEL", ""), ("NCP_ERROR", ""), ("NCP_OK", "x")):
        transfer = make_transfer(emp=trusted_emp())
        event = callback_event(state_for(aws_env.signer, transfer), form_for(transfer, code, payload))
        callback_handler.handler(event, LAMBDA_CONTEXT)
    details = outbox_events(aws_env.dynamodb, aws_env.table)
    assert {detail_type for detail_type, _ in details} == {
        "EMREX Results Received",
        "EMREX Transfer Cancelled",
        "EMREX Provider Error",
        "EMREX Results Rejected",
    }
    for detail_type, detail in details:
        jsonschema.validate(_as_version_1(detail), schemas[detail_type])
        jsonschema.validate(_as_version_2(detail), schemas[detail_type])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**detail, "protocol": "emrex-3"}, schemas[detail_type])


@pytest.mark.parametrize(
    ("code", "payload"),
    [("NCP_OK", "ok"), ("NCP_OK", "x"), ("NCP_CANCEL", ""), ("NCP_ERROR", ""), ("NCP_NO_RESULTS", "")],
)
def test_outcome_events_name_the_emp_with_the_shape_of_every_event(
    aws_env: AwsEnv, make_transfer: Callable[..., Transfer], code: str, payload: str
) -> None:
    """``emp`` has the five keys of Transfer Expired and the registry events; a transfer stored before the EMP's
    url was kept gives ``url: null`` and still validates."""
    from emrex_emc.core.events import emp_detail
    from emrex_emc.core.protocol import ProtocolVersion

    emp = trusted_emp()
    transfer = make_transfer(emp=emp)
    older = make_transfer(emp=emp)
    aws_env.dynamodb.update_item(
        TableName=aws_env.table,
        Key={"pk": {"S": f"SESSION#{older.id}"}},
        UpdateExpression="REMOVE emp.#url",
        ExpressionAttributeNames={"#url": "url"},
    )
    for one in (transfer, older):
        form = form_for(one, code, ok_payload() if payload == "ok" else payload)
        callback_handler.handler(callback_event(state_for(aws_env.signer, one), form), LAMBDA_CONTEXT)
    details = {detail["session_id"]: (kind, detail) for kind, detail in outbox_events(aws_env.dynamodb, aws_env.table)}

    kind, detail = details[transfer.id]
    assert detail["emp"] == emp_detail(emp, ProtocolVersion.EMREX_1)
    older_kind, older_detail = details[older.id]
    assert older_detail["emp"] == {**emp_detail(emp, ProtocolVersion.EMREX_1), "url": None}
    for detail_type, one_detail in ((kind, detail), (older_kind, older_detail)):
        jsonschema.validate(one_detail, _schemas()[detail_type], format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_changelog_describes_the_current_version() -> None:
    from emrex_emc.core.events import SCHEMA_VERSION

    changelog = (SCHEMA_DIR.parents[3] / "docs" / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## Schema version {SCHEMA_VERSION}" in changelog and "## Schema version 1" in changelog
    assert {schema["x-schema-version"] for schema in _schemas().values()} == {SCHEMA_VERSION}
