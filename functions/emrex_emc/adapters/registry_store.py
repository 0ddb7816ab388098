"""The registry snapshot in S3 (``registry/snapshot.json``): written by the refresh Lambda, read by the others.

Readers keep what they loaded for a short while (60 s by default), so a warm Lambda does not call S3
on every request. Importing this module does not import the registry parser (no lxml on the chooser path).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.registry import RegistrySnapshot

DEFAULT_CACHE_SECONDS = 60.0


class RegistryStore:
    """``sse_kms`` asks S3 for SSE-KMS (with ``kms_key_id``, else the AWS managed key); without it the
    bucket's default encryption applies."""

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        key: str,
        *,
        sse_kms: bool = False,
        kms_key_id: str | None = None,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._key = key
        self._encryption: dict[str, str] = {}
        if sse_kms or kms_key_id:
            self._encryption["ServerSideEncryption"] = "aws:kms"
        if kms_key_id:
            self._encryption["SSEKMSKeyId"] = kms_key_id
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

    def save(self, snapshot: RegistrySnapshot) -> None:
        body = json.dumps(snapshot.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=body,
                ContentType="application/json",
                CacheControl="no-store",
                **self._encryption,
            )
        except (ClientError, BotoCoreError) as exc:
            raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, f"cannot store the registry snapshot: {exc}") from None
        self._cached = (self._clock(), snapshot)

    def _read(self) -> RegistrySnapshot | None:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=self._key)
            raw = response["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, f"cannot read the registry snapshot: {exc}") from None
        except BotoCoreError as exc:
            raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, f"cannot read the registry snapshot: {exc}") from None
        try:
            return RegistrySnapshot.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            message = f"the stored registry snapshot is unreadable ({type(exc).__name__}: {exc})"
            raise EmrexError(ErrorCode.REGISTRY_INVALID, message) from None


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
