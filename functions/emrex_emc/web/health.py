"""``GET /health``: whether the EMC can offer EMPs, i.e. the registry snapshot's age. No secrets, no config.

``200 {"status": "ok", "registry": {...}}`` while the snapshot is younger than its ceiling; ``503`` with
``stale``, ``no_registry`` (none stored yet) or ``unavailable`` (it cannot be read) otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from emrex_emc.core.errors import EmrexError
from emrex_emc.core.registry import RegistrySnapshot
from emrex_emc.web.http import HttpResponse, json_response


def health_response(
    snapshot: RegistrySnapshot | None, *, now: datetime, max_age_seconds: int, unreadable: bool = False
) -> HttpResponse:
    registry: dict[str, object] = {"max_age_seconds": max_age_seconds}
    if unreadable:
        status = "unavailable"
    elif snapshot is None:
        status = "no_registry"
    else:
        status = "stale" if snapshot.is_stale(now, max_age_seconds) else "ok"
        registry.update(
            fetched_at=snapshot.fetched_at.isoformat(),
            age_seconds=max(0, int(snapshot.age(now).total_seconds())),
            emp_count=len(snapshot.emps),
        )
    response = json_response(200 if status == "ok" else 503, {"status": status, "registry": registry})
    response.headers["cache-control"] = "no-store"
    return response


def health_page(load: Callable[[], RegistrySnapshot | None], *, now: datetime, max_age_seconds: int) -> HttpResponse:
    """The health of the snapshot ``load`` reads; ``unavailable`` when it cannot be read."""
    try:
        snapshot = load()
    except EmrexError:
        return health_response(None, now=now, max_age_seconds=max_age_seconds, unreadable=True)
    return health_response(snapshot, now=now, max_age_seconds=max_age_seconds)
