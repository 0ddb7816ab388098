"""The small interfaces (ports) services depend on; adapters and test fakes implement them.

Services never import boto3, httpx or the web layer: handlers wire concrete adapters into these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: importing the ports loads none of these (cold start)
    from emrex_emc.core.audit import AuditRecord, ErasureRecord
    from emrex_emc.core.emrex2 import HttpAnswer
    from emrex_emc.core.events import Event
    from emrex_emc.core.evidence import AttachmentBlob, DetachedSignature, HashedBytes, StoredObjects
    from emrex_emc.core.outcome import Outcome
    from emrex_emc.core.provenance import Coverage
    from emrex_emc.core.registry import Emp, FetchResult, RegistrySnapshot
    from emrex_emc.core.registry_events import RegistryBaseline
    from emrex_emc.core.secret import SecretBundle
    from emrex_emc.core.state import StateClaims
    from emrex_emc.core.transfer import Transfer, TransferListing

Clock = Callable[[], float]
"""Seconds since the epoch (``time.time`` in production)."""
IdFactory = Callable[[], str]
"""A fresh unique id (``lambda: str(uuid.uuid4())`` in production): event ids."""


class Transfers(Protocol):
    def create(self, transfer: Transfer) -> None: ...

    def get(self, transfer_id: str) -> Transfer | None: ...

    def choose_emp(
        self,
        transfer_id: str,
        *,
        emp: Emp,
        session_id: str,
        now: int,
        coverage: Coverage | None = None,
        code_verifier: str | None = None,
    ) -> Transfer: ...

    def redeem_code(self, transfer_id: str, *, code_sha256: str, now: int) -> bool:
        """True for the first redemption of the transfer's authorization code, False for any later one."""
        ...


class RecordOutcome(Protocol):
    """Stores outcome + outbox event + audit record at once; ``recorded`` is False when already decided."""

    def record(self, transfer: Transfer, outcome: Outcome, *, event: Event, audit: AuditRecord, now: int) -> bool: ...


class Evidence(Protocol):
    def put_transfer_objects(
        self,
        transfer_id: str,
        payload: HashedBytes,
        results: Mapping[str, Any] | None = None,
        attachments: Sequence[AttachmentBlob] = (),
        signature: DetachedSignature | None = None,
    ) -> StoredObjects: ...


class StateTokens(Protocol):
    def sign(self, claims: StateClaims) -> str: ...

    def verify(self, token: str, *, now: int) -> StateClaims: ...


class Registry(Protocol):
    def snapshot(self, *, now: datetime) -> RegistrySnapshot:
        """The current snapshot; raises ``EmrexError`` (REGISTRY_*) when there is none or it is stale."""
        ...


class Publisher(Protocol):
    def publish(self, entries: Sequence[Mapping[str, str]]) -> None: ...


class Ledger(Protocol):
    """The outbox rows by key: which are settled (relayed already, or erased), and marking one relayed."""

    def settled(self, keys: Sequence[str]) -> set[str]: ...

    def mark_published(self, key: str, *, now: int) -> None: ...


class EventOutbox(Protocol):
    """Queues events in the outbox (the relay publishes them); an event already queued is not queued again."""

    def add(self, events: Sequence[Event], *, now: int) -> int:
        """How many of ``events`` were queued by this call."""
        ...


class Baselines(Protocol):
    def load(self) -> RegistryBaseline | None: ...

    def save(self, baseline: RegistryBaseline, *, replacing: RegistryBaseline | None) -> bool:
        """Store ``baseline`` unless another refresh replaced ``replacing`` meanwhile (then False)."""
        ...


class EventSender(Protocol):
    """Publishes events now (no outbox): raises ``EmrexError`` ``STORAGE_UNAVAILABLE`` when the bus refuses."""

    def send(self, events: Sequence[Event]) -> None: ...


class ApplicantTransfers(Protocol):
    def of_applicant(self, applicant_id: str) -> list[TransferListing]: ...


class Eraser(Protocol):
    def erase(self, transfer_id: str, *, now: int, keep_until: int) -> bool:
        """Erase the transfer (objects, outcome, outbox row, audit personal data); False when there was none."""
        ...


class ErasureAudit(Protocol):
    def record(self, erasure: ErasureRecord) -> None: ...


class ClientKeys(Protocol):
    """Our EMREX 2.0 signing keys (KMS): the first signs client assertions, all are published."""

    @property
    def signing_key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes:
        """RS256 signature; raises ``EmrexError`` ``CLIENT_KEY_UNAVAILABLE`` when the key cannot be used."""
        ...

    def public_keys(self) -> Sequence[tuple[str, bytes]]:
        """``(kid, DER SubjectPublicKeyInfo)``, the signing key first."""
        ...


class EmpEndpoints(Protocol):
    """An EMREX 2.0 EMP's server-to-server endpoints. ``deadline`` is a ``time.monotonic()`` moment shared by
    the calls of one callback. Raises ``EmrexError`` ``EMP_UNAVAILABLE``, ``EMP_RESPONSE_INVALID`` or (results
    over the cap) ``PAYLOAD_TOO_LARGE``."""

    def token(self, url: str, form: Mapping[str, str], *, deadline: float) -> HttpAnswer: ...

    def results(self, url: str, access_token: str, *, deadline: float) -> HttpAnswer: ...


class Fetcher(Protocol):
    def fetch(self, source: str, *, etag: str | None = None, now: datetime) -> FetchResult: ...


class SnapshotStore(Protocol):
    def load(self, *, use_cache: bool = True) -> RegistrySnapshot | None: ...

    def save(self, snapshot: RegistrySnapshot) -> RegistrySnapshot | None:
        """What was stored (its warnings, then EMPs, may be left out to fit, with a warning saying so),
        or None when a newer snapshot is stored."""
        ...


class SecretSource(Protocol):
    def current(self) -> SecretBundle: ...

    def refresh_for_unknown_key(self, key_id: str) -> bool: ...
