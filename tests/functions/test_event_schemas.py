"""Every event the callback queues validates against the JSON Schema of its detail-type."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from callback import handler as callback_handler
from emrex_emc.core.events import DetailType
from emrex_emc.core.transfer import Transfer
from tests.functions.callback_helpers import callback_event, form_for, ok_payload, outbox_events, state_for, trusted_emp
from tests.functions.conftest import AwsEnv
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


@pytest.fixture(autouse=True)
def fresh_handler(aws_env: AwsEnv) -> Iterator[None]:
    callback_handler.reset()
    yield
    callback_handler.reset()


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


def test_events_of_schema_version_1_still_validate(aws_env: AwsEnv, make_transfer: Callable[..., Transfer]) -> None:
    """The bus archive replays events published before version 2: the extended schemas accept them unchanged."""
    schemas = _schemas()
    for code, payload in (("NCP_OK", ok_payload()), ("NCP_CANCEL", ""), ("NCP_ERROR", ""), ("NCP_OK", "x")):
        transfer = make_transfer(emp=trusted_emp())
        event = callback_event(state_for(aws_env.signer, transfer), form_for(transfer, code, payload))
        callback_handler.handler(event, LAMBDA_CONTEXT)
    for detail_type, detail in outbox_events(aws_env.dynamodb, aws_env.table):
        version_1 = {key: value for key, value in detail.items() if key not in {"protocol", "schema_version"}}
        if "signature" in version_1:
            version_1["signature"] = {k: v for k, v in version_1["signature"].items() if k != "format"}
        jsonschema.validate(version_1, schemas[detail_type])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**detail, "protocol": "emrex-3"}, schemas[detail_type])


def test_the_changelog_describes_the_current_version() -> None:
    from emrex_emc.core.events import SCHEMA_VERSION

    changelog = (SCHEMA_DIR.parents[3] / "docs" / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## Schema version {SCHEMA_VERSION}" in changelog and "## Schema version 1" in changelog
    assert {schema["x-schema-version"] for schema in _schemas().values()} == {SCHEMA_VERSION}
