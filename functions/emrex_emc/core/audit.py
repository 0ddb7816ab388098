"""Audit records: of a transfer's outcome (who, which EMP, what was received and how it was trusted), written
in the same transaction as the outcome, and of an erasure. Ids, codes and hashes only (no names or results).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emrex_emc.core.outcome import Outcome
from emrex_emc.core.protocol import ProtocolVersion, Status
from emrex_emc.core.signature_facts import JwsFacts, SignatureFacts
from emrex_emc.core.transfer import Transfer, utc_iso


@dataclass(frozen=True)
class AuditRecord:
    """The audit row written with an outcome: what was decided, without the results."""

    transfer: Transfer
    outcome: Outcome

    def to_item(self) -> dict[str, Any]:
        outcome = self.outcome
        item: dict[str, Any] = {
            "applicant_id": self.transfer.applicant_id,
            "emp_id": self.transfer.emp.id if self.transfer.emp else None,
            "return_code": outcome.return_code,
            "payload_sha256": outcome.payload_sha256,
            "at": outcome.at,
        }
        if outcome.status is Status.REJECTED:
            item["error_code"] = outcome.error_code
        elif outcome.status is Status.RECEIVED:
            signature = outcome.signature
            item.update(
                signature_algorithm=outcome.signature_algorithm,
                certificate_sha256=signature.certificate_sha256 if isinstance(signature, SignatureFacts) else None,
                elmo_version=outcome.elmo_version,
                identity_verdict=outcome.identity_verdict,
            )
            if isinstance(signature, JwsFacts):
                item["public_key_sha256"] = signature.public_key_sha256
        if self.transfer.protocol is not ProtocolVersion.EMREX_1:
            item["protocol"] = self.transfer.protocol.value
        return item


@dataclass(frozen=True)
class ErasureRecord:
    """One erasure request: what was erased, when, by which request, and its event. Not the applicant."""

    erasure_id: str
    at: int
    event_id: str
    session_ids: tuple[str, ...]
    request_id: str

    def to_item(self) -> dict[str, Any]:
        return {
            "kind": "erasure",
            "at": utc_iso(self.at),
            "event_id": self.event_id,
            "session_ids": list(self.session_ids),
            "erased": len(self.session_ids),
            "request_id": self.request_id,
        }
