"""Everything the callback writes and shows is byte-identical to a snapshot frozen before the warm-path work.

Issue 7 made the warm callback cheaper (form decoding, hashing each payload once, the canonical JSON
encoder, DynamoDB item building). None of that may change a stored byte, so the real
:class:`CallbackService` (real ``TransferTable``, ``OutcomeStore``, ``BlobStore``, ``StateSigner``)
runs on recording boto3 fakes with a fixed clock and event id, for a frozen signed input
(``data/callback_input.json``: a synthetic learner, signed once with a throw-away key), and what the
fakes received plus the response are compared with ``data/callback_snapshot.json``.

The snapshot was generated with the code before the change; regenerate it only for an intended change of
the stored format: ``python tests/services/test_callback_service_bytes.py --write``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from benchmarks._callback_fixture import EMP_URL, SETTINGS_ENV  # the warm-callback benchmark's settings
from callback.handler import ports
from emrex_emc.adapters.sessions import transfer_to_item
from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.protocol import Status
from emrex_emc.core.registry import emp_id
from emrex_emc.core.state import StateClaims, StateSigner
from emrex_emc.core.transfer import EmpRef, Transfer
from emrex_emc.services.callback import CallbackService
from emrex_emc.settings import Settings
from emrex_emc.web.callback import callback_post
from emrex_emc.web.http import HttpRequest
from emrex_emc.web.outcome import ReturnLink, outcome_page

DATA = Path(__file__).resolve().parent / "data"
INPUT = DATA / "callback_input.json"
SNAPSHOT = DATA / "callback_snapshot.json"

NOW = int(dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC).timestamp())
"""Inside the frozen certificate's validity (2026-01-01 .. 2036-01-01)."""
EVENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000007")
TRANSFER_ID = "c" * 32
SESSION_ID = "T" * 32


def frozen_input() -> dict[str, str]:
    data: dict[str, str] = json.loads(INPUT.read_text(encoding="utf-8"))
    return data


def scenario_forms() -> dict[str, dict[str, str]]:
    data = frozen_input()
    return {
        "received": {"sessionId": SESSION_ID, "returnCode": "NCP_OK", "elmo": data["ok_elmo"]},
        "rejected": {"sessionId": SESSION_ID, "returnCode": "NCP_OK", "elmo": data["tampered_elmo"]},
        "cancelled": {"sessionId": SESSION_ID, "returnCode": "NCP_CANCEL"},
        "provider_error": {
            "sessionId": SESSION_ID,
            "returnCode": "NCP_ERROR",
            "returnMessage": "Tjenesten er nede <b>&</b> prøv igjen",
        },
    }


class RecordingDynamoDB:
    """Serves one pending transfer and records every call (writes are not applied)."""

    def __init__(self, item: dict[str, Any]) -> None:
        self._item = item
        self.calls: list[list[Any]] = []

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(["get_item", kwargs])
        return {"Item": self._item} if kwargs["Key"]["pk"]["S"] == self._item["pk"]["S"] else {}

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(["transact_write_items", kwargs])
        return {}


class RecordingS3:
    """Records every put; bodies as SHA-256 and size (the bodies themselves are kept in ``bodies``)."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []
        self.bodies: dict[str, bytes] = {}

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        body = kwargs.pop("Body")
        assert isinstance(body, bytes)
        self.bodies[kwargs["Key"]] = body
        self.calls.append(
            ["put_object", {**kwargs, "Body.sha256": hashlib.sha256(body).hexdigest(), "Body.size": len(body)}]
        )
        return {}


def capture(form: dict[str, str]) -> dict[str, Any]:
    """Handle one callback POST; return what DynamoDB and S3 received and what the student got."""
    cert_der = base64.b64decode(frozen_input()["cert_der"])
    settings = Settings.from_env(SETTINGS_ENV)
    emp = EmpRef(id=emp_id("NO", EMP_URL), name="Eksempel EMP", country="NO", url=EMP_URL)
    transfer = Transfer(
        id=TRANSFER_ID,
        applicant_id="applicant-7",
        given_names="Åsa Marie",
        family_name="Sørensen-Lé",
        birth_date="2000-05-17",
        return_url="https://uni.example/return?step=3",
        locale="nl",
        status=Status.PENDING,
        created_at="2026-06-01T11:50:00Z",
        deadline=NOW + 1800,
        expires_at=NOW + 1800 + 86400,
        start_used=True,
        emrex_session_id=SESSION_ID,
        emp=emp,
        pinned_certs=(cert_der,),
    )
    dynamodb = RecordingDynamoDB(transfer_to_item(transfer))
    s3 = RecordingS3()
    signer = StateSigner({"k1": b"s" * 32}, "k1")
    wiring = ports(
        settings, dynamodb=dynamodb, s3=s3, states=signer, clock=lambda: NOW + 0.25, new_event_id=lambda: str(EVENT_ID)
    )
    service = CallbackService(wiring)  # the handler's wiring
    claims = StateClaims(transfer_id=TRANSFER_ID, session_id=SESSION_ID, emp_id=emp.id, expires_at=NOW + 1800)
    request = HttpRequest(
        method="POST",
        path="/callback",
        headers={"content-type": "application/x-www-form-urlencoded", "accept-language": "en-GB,en;q=0.8"},
        query={"state": signer.sign(claims)},
        body=urlencode(form).encode("ascii"),
    )
    result = service.receive(callback_post(request, max_body_bytes=settings.max_body_bytes))
    response = outcome_page(
        result.outcome,
        lang="nl",
        transfer_id=result.transfer.id,
        link=ReturnLink(result.transfer.return_url, result.transfer.id, result.outcome.status.value),
    )
    body = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
    return {
        "dynamodb": dynamodb.calls,
        "s3": s3.calls,
        "response": {
            "status": response.status,
            "headers": response.headers,
            "body.sha256": hashlib.sha256(body).hexdigest(),
        },
        "result": {
            "transfer_id": result.transfer.id,
            "status": result.outcome.status.value,
            "error_code": result.outcome.error_code,
            "recorded": result.recorded,
            "replay": result.replay,
            "emp_id": emp.id,
            "signature_algorithm": result.outcome.signature_algorithm if result.recorded else None,
            "identity_verdict": result.outcome.identity_verdict if result.recorded else None,
        },
    }


def snapshot() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("scenario", sorted(scenario_forms()))
def test_what_the_callback_writes_and_shows_is_byte_identical_to_the_snapshot(scenario: str) -> None:
    captured = json.loads(json.dumps(capture(scenario_forms()[scenario])))  # tuples -> lists, as stored
    assert captured == snapshot()[scenario]


def test_the_snapshot_covers_every_store_and_the_expected_outcomes() -> None:
    """Guards the snapshot itself: each scenario reached the outcome it is named after."""
    frozen = snapshot()
    assert {name: data["result"]["status"] for name, data in frozen.items()} == {
        "received": "received",
        "rejected": "rejected",
        "cancelled": "cancelled",
        "provider_error": "provider_error",
    }
    received_keys = [call[1]["Key"] for call in frozen["received"]["s3"]]
    assert received_keys[:2] == [f"transfers/{TRANSFER_ID}/payload.txt", f"transfers/{TRANSFER_ID}/results.json"]
    assert received_keys[2].startswith(f"transfers/{TRANSFER_ID}/attachments/0-")
    assert [call[1]["Key"] for call in frozen["rejected"]["s3"]] == [f"transfers/{TRANSFER_ID}/payload.txt"]
    assert all(data["dynamodb"][-1][0] == "transact_write_items" for data in frozen.values())


def verify_frozen_ok() -> Any:
    """The frozen accepted payload through the pipeline, as the service runs it."""
    from emrex_emc.core.identity import ExpectedIdentity
    from emrex_emc.core.pipeline import verify_elmo

    settings = Settings.from_env(SETTINGS_ENV)
    return verify_elmo(
        scenario_forms()["received"]["elmo"],
        [base64.b64decode(frozen_input()["cert_der"])],
        settings.pipeline_policy,
        expected=ExpectedIdentity(given_names="Åsa Marie", family_name="Sørensen-Lé", birth_date=dt.date(2000, 5, 17)),
        now=dt.datetime.fromtimestamp(NOW + 0.25, dt.UTC),
        xsd_dir=settings.xsd_dir or None,
    )


def test_stored_objects_are_exactly_the_payload_the_canonical_json_and_the_attachment() -> None:
    """What the hashes in the snapshot stand for, recomputed independently of the adapters."""
    form = scenario_forms()["received"]
    verified = verify_frozen_ok()
    results = canonical_json(verified.to_json())
    [(_, content)] = verified.document.contents()
    pdf = content.data
    calls = {call[1]["Key"]: call[1] for call in snapshot()["received"]["s3"]}
    expected = {
        f"transfers/{TRANSFER_ID}/payload.txt": form["elmo"].encode("utf-8"),
        f"transfers/{TRANSFER_ID}/results.json": results,
        f"transfers/{TRANSFER_ID}/attachments/0-{hashlib.sha256(pdf).hexdigest()}": pdf,
    }
    assert set(calls) == set(expected)
    for key, body in expected.items():
        digest = hashlib.sha256(body).hexdigest()
        assert (calls[key]["Body.sha256"], calls[key]["Body.size"], calls[key]["Metadata"]) == (
            digest,
            len(body),
            {"sha256": digest},
        )


def write_snapshot() -> None:
    captured = {name: capture(form) for name, form in scenario_forms().items()}
    SNAPSHOT.write_text(json.dumps(captured, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python tests/services/test_callback_service_bytes.py --write")
    write_snapshot()
