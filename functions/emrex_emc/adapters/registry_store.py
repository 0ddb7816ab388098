"""The registry snapshot as ONE item of the DynamoDB table (``pk = "REGISTRY#snapshot"``).

Written by the refresh Lambda, read by the others. The snapshot JSON is gzip-compressed in the binary
attribute ``snapshot``; ``fetched_at``, ``source``, ``emp_count``, ``sha256`` (of the uncompressed JSON,
checked on every read) and ``format`` are plain attributes for operators. The item never carries
``expires_at``, so the table's TTL never removes it; the table's own KMS key encrypts it at rest.

A DynamoDB item holds at most 400 KB: when a snapshot's item would exceed :data:`MAX_ITEM_BYTES` its
warnings are dropped first (one line says how many); if it is still too large EMPs are left out, as few as
make it fit, each named in a warning (the parser keeps every entry below
``core.registry_entries.MAX_ENTRY_BYTES``, so this takes many large entries): first those new in this
refresh, then those the stored snapshot already held, each group largest first by what it adds to the
gzipped item (so entries of a hostile registry, new and incompressible, go before a known national EMP that
is large but compressible). The chooser keeps every EMP that fits; only when not even one EMP fits is the
snapshot refused (REGISTRY_INVALID) and the stored one stays. The write is conditional on the stored ``fetched_at``
(fixed-format UTC, so it sorts as text): a refresh that fetched earlier never overwrites a snapshot
fetched later. Readers keep what they loaded for a short while (60 s by default), so a warm Lambda does
not read the table on every request. Importing this module does not import the registry parser (no
lxml on the chooser path).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.registry import Emp, RegistrySnapshot

if TYPE_CHECKING:  # the baseline is the refresh function's only (events, cryptography): not at the others' cold start
    from emrex_emc.core.registry_events import RegistryBaseline

SNAPSHOT_PK = "REGISTRY#snapshot"
BASELINE_PK = "REGISTRY#baseline"
"""The EMPs of the last complete snapshot, which registry changes are announced against (written by the
refresh only, like the snapshot; gzip JSON in ``baseline``, no ``expires_at``)."""
SNAPSHOT_FORMAT = "json+gzip"
MAX_ITEM_BYTES = 350 * 1024
"""Safely below DynamoDB's 400 KB item limit (our size count is an upper bound, but leave room anyway)."""
DEFAULT_CACHE_SECONDS = 60.0
FETCHED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""The ``fetched_at`` attribute: UTC, fixed width, so DynamoDB's text comparison orders it by time."""
_NOT_OLDER = "attribute_not_exists(fetched_at) OR fetched_at <= :fetched_at"


class RegistryStore:
    """``consistent_read`` is for the writer (it compares with what it stored last); readers of the chooser
    path are fine with an eventually consistent read of an item that changes every 15 minutes at most."""

    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        *,
        max_item_bytes: int = MAX_ITEM_BYTES,
        consistent_read: bool = False,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dynamodb = dynamodb_client
        self._table = table_name
        self._max_item_bytes = max_item_bytes
        self._consistent_read = consistent_read
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cached: tuple[float, RegistrySnapshot | None] | None = None

    def load(self, *, use_cache: bool = True) -> RegistrySnapshot | None:
        """The stored snapshot, or None when none was written yet."""
        if use_cache and self._cached is not None and self._clock() - self._cached[0] < self._cache_seconds:
            return self._cached[1]
        snapshot = self._read()
        self._cached = (self._clock(), snapshot)
        return snapshot

    def save(self, snapshot: RegistrySnapshot) -> RegistrySnapshot | None:
        """Store ``snapshot`` unless the table holds one fetched later.

        Returns what was stored (``snapshot``, or a copy without its warnings when only that fits the
        item), or None when a newer snapshot is stored (nothing written: a concurrent refresh won).
        """
        snapshot, item = self._fitting_item(snapshot)
        newer = {":fetched_at": item["fetched_at"]}
        condition = {"ConditionExpression": _NOT_OLDER, "ExpressionAttributeValues": newer}
        if not _put_unless_superseded(self._dynamodb, self._table, item, "snapshot", condition):
            self._cached = None
            return None
        self._cached = (self._clock(), snapshot)
        return snapshot

    def _fitting_item(self, snapshot: RegistrySnapshot) -> tuple[RegistrySnapshot, dict[str, dict[str, Any]]]:
        """The snapshot and its item, without its warnings, then some of its EMPs, if that is what makes it fit;
        REGISTRY_INVALID if not even one EMP fits."""
        item = snapshot_item(snapshot)
        if item_size(item) <= self._max_item_bytes:
            return snapshot, item
        if snapshot.warnings:
            note = f"{len(snapshot.warnings)} warning(s) dropped to fit the {self._max_item_bytes}-byte table item"
            snapshot = snapshot.without_warnings(note)
            item = snapshot_item(snapshot)
            if item_size(item) <= self._max_item_bytes:
                return snapshot, item
        fitting = self._without_emps_to_fit(snapshot)
        if fitting is not None:
            return fitting
        raise EmrexError(
            ErrorCode.REGISTRY_INVALID,
            f"the registry snapshot ({len(snapshot.emps)} EMPs) needs a {item_size(item)}-byte table item, more "
            f"than the {self._max_item_bytes} bytes allowed; the previous snapshot is kept",
        )

    def _without_emps_to_fit(
        self, snapshot: RegistrySnapshot
    ) -> tuple[RegistrySnapshot, dict[str, dict[str, Any]]] | None:
        """``snapshot`` without the fewest EMPs, in :meth:`_leave_out_order`, that make its item fit (at least one
        EMP kept).

        Each EMP left out takes more room than the warning naming it, so leaving out more of them shrinks the
        item and the fewest are found by bisection: a registry of 1,000 EMPs is serialised about ten times,
        not a thousand."""
        order = self._leave_out_order(snapshot.emps)
        reason = f"the snapshot must fit its {self._max_item_bytes}-byte table item"
        found = None
        low, high = 1, len(order) - 1
        while low <= high:
            count = (low + high) // 2
            candidate = snapshot.without_emps(set(order[:count]), reason)
            item = snapshot_item(candidate)
            if item_size(item) <= self._max_item_bytes:
                found, high = (candidate, item), count - 1
            else:
                low = count + 1
        return found

    def _leave_out_order(self, emps: tuple[Emp, ...]) -> list[Emp]:
        """EMPs new in this refresh first, then those the stored snapshot holds; each group largest first by
        their gzipped size (what they add to the item: an incompressible entry ranks above a compressible one
        of the same length)."""
        try:
            previous = self.load()
        except EmrexError:  # unreadable: every EMP counts as new
            previous = None
        known = {emp.id for emp in previous.emps} if previous is not None else set()
        return sorted(emps, key=lambda emp: (emp.id in known, -len(gzip.compress(canonical_json(emp.to_json())))))

    def _read(self) -> RegistrySnapshot | None:
        item = _get_item(self._dynamodb, self._table, SNAPSHOT_PK, consistent=self._consistent_read, what="snapshot")
        if item is None:
            return None
        try:
            return snapshot_from_item(item)
        except (ValueError, KeyError, TypeError, OSError, EOFError, zlib.error) as exc:
            message = f"the stored registry snapshot is unreadable ({type(exc).__name__}: {exc})"
            raise EmrexError(ErrorCode.REGISTRY_INVALID, message) from None


def _put_unless_superseded(
    dynamodb: Any, table: str, item: dict[str, dict[str, Any]], what: str, condition: dict[str, Any]
) -> bool:
    """Put ``item`` under ``condition``; False when the condition failed (a concurrent refresh won)."""
    try:
        dynamodb.put_item(TableName=table, Item=item, **condition)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, f"cannot store the registry {what}: {exc}") from None
    except BotoCoreError as exc:
        raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, f"cannot store the registry {what}: {exc}") from None
    return True


def fetched_at_attribute(fetched_at: datetime) -> str:
    """``fetched_at`` as stored in the item's attribute (compared as text by the conditional write)."""
    return fetched_at.astimezone(UTC).strftime(FETCHED_AT_FORMAT)


def snapshot_item(snapshot: RegistrySnapshot) -> dict[str, dict[str, Any]]:
    """The table item (low-level attribute values) holding ``snapshot``."""
    body = canonical_json(snapshot.to_json())
    return {
        "pk": {"S": SNAPSHOT_PK},
        "format": {"S": SNAPSHOT_FORMAT},
        "snapshot": {"B": gzip.compress(body, mtime=0)},
        "sha256": {"S": hashlib.sha256(body).hexdigest()},
        "fetched_at": {"S": fetched_at_attribute(snapshot.fetched_at)},
        "source": {"S": snapshot.source},
        "emp_count": {"N": str(len(snapshot.emps))},
    }


def snapshot_from_item(item: dict[str, dict[str, Any]]) -> RegistrySnapshot:
    """Raises ValueError / KeyError / TypeError / OSError for anything but an intact snapshot item."""
    found_format = item["format"]["S"]
    if found_format != SNAPSHOT_FORMAT:
        raise ValueError(f"format {found_format!r}, expected {SNAPSHOT_FORMAT!r}")
    body = gzip.decompress(bytes(item["snapshot"]["B"]))
    if hashlib.sha256(body).hexdigest() != item["sha256"]["S"]:
        raise ValueError("the snapshot does not match its sha256")
    return RegistrySnapshot.from_json(json.loads(body))


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """An upper bound of DynamoDB's size of ``item``: attribute names plus values (strings as UTF-8,
    binaries as bytes, numbers at most one byte per digit plus one)."""
    total = 0
    for name, value in item.items():
        total += len(name.encode("utf-8"))
        for kind, content in value.items():
            if kind == "B":
                total += len(content)
            elif kind == "N":
                total += len(content) + 1
            else:
                total += len(str(content).encode("utf-8"))
    return total


def load_fresh(store: RegistryStore, *, now: datetime, max_age_seconds: int) -> RegistrySnapshot:
    """The snapshot students may be offered: it must exist and be younger than the ceiling."""
    snapshot = store.load()
    if snapshot is None:
        raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, "no registry snapshot has been stored yet")
    age = int(snapshot.age(now).total_seconds())
    if snapshot.is_stale(now, max_age_seconds):
        raise EmrexError(
            ErrorCode.REGISTRY_STALE,
            f"the registry snapshot is {age} s old (fetched {snapshot.fetched_at.isoformat()}), "
            f"more than the {max_age_seconds} s allowed",
        )
    return snapshot


class FreshRegistry:
    """The registry as the chooser sees it: the stored snapshot, only while it is younger than the ceiling."""

    def __init__(self, store: RegistryStore, *, max_age_seconds: int) -> None:
        self._store = store
        self._max_age_seconds = max_age_seconds

    def snapshot(self, *, now: datetime) -> RegistrySnapshot:
        return load_fresh(self._store, now=now, max_age_seconds=self._max_age_seconds)


def _get_item(dynamodb: Any, table: str, pk: str, *, consistent: bool, what: str) -> dict[str, Any] | None:
    try:
        response = dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=consistent)
    except (ClientError, BotoCoreError) as exc:
        raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, f"cannot read the registry {what}: {exc}") from None
    item: dict[str, Any] | None = response.get("Item")
    return item


class BaselineStore:
    """The registry baseline item (:data:`BASELINE_PK`); a write is conditional on the baseline it replaces."""

    def __init__(self, dynamodb_client: Any, table_name: str, *, max_item_bytes: int = MAX_ITEM_BYTES) -> None:
        self._dynamodb = dynamodb_client
        self._table = table_name
        self._max_item_bytes = max_item_bytes

    def load(self) -> RegistryBaseline | None:
        item = _get_item(self._dynamodb, self._table, BASELINE_PK, consistent=True, what="baseline")
        if item is None:
            return None
        from emrex_emc.core.registry_events import RegistryBaseline

        try:
            return RegistryBaseline.from_json(json.loads(gzip.decompress(bytes(item["baseline"]["B"]))))
        except (ValueError, KeyError, TypeError, OSError, EOFError, zlib.error):
            return None  # unreadable: start over as on a first load (nothing announced this once)

    def save(self, baseline: RegistryBaseline, *, replacing: RegistryBaseline | None) -> bool:
        body = canonical_json(baseline.to_json())
        item: dict[str, dict[str, Any]] = {
            "pk": {"S": BASELINE_PK},
            "format": {"S": SNAPSHOT_FORMAT},
            "baseline": {"B": gzip.compress(body, mtime=0)},
            "version": {"S": baseline.version()},
            "emp_count": {"N": str(len(baseline.emps))},
        }
        if item_size(item) > self._max_item_bytes:
            raise EmrexError(
                ErrorCode.REGISTRY_INVALID,
                f"the registry baseline ({len(baseline.emps)} EMPs) does not fit a table item: "
                "EMP changes cannot be announced",
            )
        condition: dict[str, Any] = {}  # a first baseline (or one replacing an unreadable item) is put as is
        if replacing is not None:
            condition = {
                "ConditionExpression": "version = :version",
                "ExpressionAttributeValues": {":version": {"S": replacing.version()}},
            }
        return _put_unless_superseded(self._dynamodb, self._table, item, "baseline", condition)
