"""Several registries in one snapshot: each fetched conditionally on its own, combined, failures contained."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from emrex_emc.adapters.registry_fetch import FetchResult
from emrex_emc.adapters.registry_store import RegistryStore
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.registry import SOURCE_SEPARATOR, RegistrySnapshot
from emrex_emc.services.registry_refresh import NOTICE_SOURCE_FAILED, refresh_or_keep, refresh_registry
from registry_refresh import handler as refresh_handler
from tests.functions.test_registry_refresh import NORWAY, NOW, POLAND, FakeFetcher, fetched
from tests.lambda_context import LAMBDA_CONTEXT

CATALOGUE = "https://registry.example/catalogue-v1.xml"
EMREG2 = "https://emreg.example/emp-list"
SOURCES = (CATALOGUE, EMREG2)
PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .public_key()
    .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def emreg2_body(name: str = "DUO", country: str = "NL") -> bytes:
    record = {
        "acronym": name,
        "country": country,
        "authorization_url": f"https://{name.lower()}.example/authorize",
        "token_url": f"https://{name.lower()}.example/token",
        "resource_url": f"https://{name.lower()}.example/results",
        "public_key": PEM,
    }
    return json.dumps({"emp_list": [record]}).encode()


def emreg2_fetch(body: bytes | None = None, *, etag: str = '"e1"', minutes: int = 15) -> FetchResult:
    return FetchResult(False, body or emreg2_body(), etag, NOW + timedelta(minutes=minutes))


@pytest.fixture
def store(aws_env) -> RegistryStore:
    return RegistryStore(aws_env.dynamodb, aws_env.table, cache_seconds=0)


def test_two_registries_make_one_snapshot_kept_in_parts(store: RegistryStore) -> None:
    fetcher = FakeFetcher([fetched([NORWAY, POLAND]), emreg2_fetch()])
    report = refresh_registry(fetcher=fetcher, store=store, source=SOURCES, now=NOW)
    assert fetcher.calls == [(CATALOGUE, None), (EMREG2, None)]
    assert report.status == "updated" and report.source == SOURCE_SEPARATOR.join(SOURCES)
    stored = store.load()
    assert stored is not None and stored == report.snapshot
    assert [(emp.name, emp.protocol) for emp in stored.emps] == [
        ("Vitnemålsportalen", ProtocolVersion.EMREX_1),
        ("USOS", ProtocolVersion.EMREX_1),
        ("DUO", ProtocolVersion.EMREX_2),
    ]
    assert [(part.source, part.etag) for part in stored.source_parts()] == [(CATALOGUE, '"v1"'), (EMREG2, '"e1"')]
    assert RegistrySnapshot.from_json(stored.to_json()) == stored


def test_each_registry_is_fetched_when_its_own_cache_runs_out(store: RegistryStore) -> None:
    first = FakeFetcher([fetched([NORWAY], cache_until=NOW + timedelta(hours=2)), emreg2_fetch(minutes=5)])
    refresh_registry(fetcher=first, store=store, source=SOURCES, now=NOW)

    later = NOW + timedelta(minutes=10)
    second = FakeFetcher([FetchResult(True, None, '"e1"', later + timedelta(minutes=15))])
    report = refresh_registry(fetcher=second, store=store, source=SOURCES, now=later)
    assert second.calls == [(EMREG2, '"e1"')]  # the catalogue is still fresh: not fetched at all
    assert report.status == "not_modified" and [e.name for e in report.snapshot.emps] == ["Vitnemålsportalen", "DUO"]
    assert report.snapshot.fetched_at == NOW  # the oldest part's: what the staleness alarm watches

    none = FakeFetcher([])
    skipped = refresh_registry(fetcher=none, store=store, source=SOURCES, now=later + timedelta(minutes=1))
    assert (skipped.status, none.calls) == ("skipped", [])


def test_a_failing_registry_keeps_what_it_listed_before(store: RegistryStore) -> None:
    refresh_registry(fetcher=FakeFetcher([fetched([NORWAY]), emreg2_fetch()]), store=store, source=SOURCES, now=NOW)

    class Broken(FakeFetcher):
        def fetch(self, source, *, etag=None, now):
            if source == EMREG2:
                raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, "emreg.example answered HTTP 503")
            return super().fetch(source, etag=etag, now=now)

    later = NOW + timedelta(hours=1)
    report = refresh_registry(fetcher=Broken([fetched([NORWAY, POLAND])]), store=store, source=SOURCES, now=later)
    assert [emp.name for emp in report.snapshot.emps] == ["Vitnemålsportalen", "USOS", "DUO"]
    assert report.error is not None and report.error.code is ErrorCode.REGISTRY_UNAVAILABLE
    assert [notice.code for notice in report.notices] == [NOTICE_SOURCE_FAILED]
    assert EMREG2 in report.notices[0].message
    assert report.snapshot.fetched_at == NOW  # the failing registry's part is as old as its last success


def test_an_emptied_registry_never_empties_its_part(store: RegistryStore) -> None:
    refresh_registry(fetcher=FakeFetcher([fetched([NORWAY]), emreg2_fetch()]), store=store, source=SOURCES, now=NOW)
    emptied = FakeFetcher([fetched([NORWAY]), emreg2_fetch(b'{"emp_list": []}')])
    report = refresh_registry(fetcher=emptied, store=store, source=SOURCES, now=NOW, force=True)
    assert [emp.name for emp in report.snapshot.emps] == ["Vitnemålsportalen", "DUO"]
    assert report.error is not None and report.error.code is ErrorCode.REGISTRY_INVALID


def test_only_when_every_registry_fails_is_the_refresh_a_failure(store: RegistryStore) -> None:
    class Down(FakeFetcher):
        def fetch(self, source, *, etag=None, now):
            raise EmrexError(ErrorCode.REGISTRY_UNAVAILABLE, f"{source} is down")

    with pytest.raises(EmrexError):
        refresh_registry(fetcher=Down(), store=store, source=SOURCES, now=NOW)
    refresh_registry(fetcher=FakeFetcher([fetched([NORWAY]), emreg2_fetch()]), store=store, source=SOURCES, now=NOW)
    report = refresh_or_keep(fetcher=Down(), store=store, source=SOURCES, now=NOW, force=True)
    assert report.status == "failed" and len(report.snapshot.emps) == 2


def test_a_registry_dropped_from_the_configuration_leaves_the_snapshot(store: RegistryStore) -> None:
    refresh_registry(fetcher=FakeFetcher([fetched([NORWAY]), emreg2_fetch()]), store=store, source=SOURCES, now=NOW)
    fetcher = FakeFetcher()
    report = refresh_registry(fetcher=fetcher, store=store, source=CATALOGUE, now=NOW)
    assert fetcher.calls == []  # the catalogue's own cache is still fresh
    assert report.status == "updated" and [emp.name for emp in report.snapshot.emps] == ["Vitnemålsportalen"]
    assert report.snapshot.parts == () and report.snapshot.source == CATALOGUE
    assert [(change.kind, change.name) for change in report.changes] == [("removed", "DUO")]


def test_the_handler_reads_every_configured_registry(aws_env, tmp_path, monkeypatch) -> None:
    catalogue, emreg = tmp_path / "catalogue.xml", tmp_path / "emreg2.json"
    catalogue.write_bytes(fetched([NORWAY]).body or b"")
    emreg.write_bytes(emreg2_body("Leiden"))
    monkeypatch.setenv("EMREX_REGISTRY_URLS", f"{catalogue},{emreg}")
    refresh_handler.reset()
    try:
        report = refresh_handler.handler({}, LAMBDA_CONTEXT)
    finally:
        refresh_handler.reset()
    assert report["status"] == "updated" and report["emp_count"] == 2
    assert report["source"] == f"{catalogue}{SOURCE_SEPARATOR}{emreg}"
