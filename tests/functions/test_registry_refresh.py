import gzip
import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from emrex_emc.adapters.registry_fetch import FetchResult, RegistryFetcher
from emrex_emc.adapters.registry_store import (
    MAX_ITEM_BYTES,
    SNAPSHOT_PK,
    RegistryStore,
    item_size,
    load_fresh,
    snapshot_item,
)
from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.registry import Emp, RegistrySnapshot, emp_id
from emrex_emc.core.registry_entries import MAX_INSTITUTION_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS
from emrex_emc.core.registry_parse import render_ewp_catalogue
from emrex_emc.core.text import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, is_clean
from emrex_emc.services.registry_refresh import diff_emps, refresh_registry
from infra.components.monitoring import PER_EMP
from registry_refresh import handler as refresh_handler
from start_session import handler as start
from tests.adapters.conftest import make_certificate
from tests.core.test_registry_parse import audit_entry
from tests.functions.conftest import apigw_event, rewired
from tests.functions.test_start_session import get_page, labels
from tests.lambda_context import LAMBDA_CONTEXT

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
SOURCE = "https://registry.example/catalogue-v1.xml"
CERT_1, CERT_2, CERT_3 = (make_certificate(f"cert {n}") for n in range(3))


def emp(name: str, country: str, url: str, *certs: bytes) -> Emp:
    return Emp(id=emp_id(country, url), name=name, url=url, country=country, certificates=certs or (CERT_1,))


NORWAY = emp("Vitnemålsportalen", "NO", "https://app.vitnemalsportalen.no/vp/init", CERT_1)
POLAND = emp("USOS", "PL", "https://usosweb.uw.edu.pl/ncp_endpoint.php", CERT_2)
FINLAND = emp("CSC", "FI", "https://emrex.csc.fi/emp", CERT_3)

fresh_start = rewired(start)


@dataclass
class FakeFetcher:
    results: list[FetchResult] = field(default_factory=list)
    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def fetch(self, source: str, *, etag: str | None = None, now: datetime) -> FetchResult:
        self.calls.append((source, etag))
        return self.results.pop(0)


def fetched(emps, *, etag='"v1"', cache_until=NOW + timedelta(minutes=15)) -> FetchResult:
    return FetchResult(not_modified=False, body=render_ewp_catalogue(emps), etag=etag, cache_until=cache_until)


@pytest.fixture
def store(aws_env) -> RegistryStore:
    return RegistryStore(aws_env.dynamodb, aws_env.table, cache_seconds=0)


def seed(store: RegistryStore, emps, *, fetched_at=NOW - timedelta(hours=1), cache_until=None, source=SOURCE):
    snapshot = RegistrySnapshot(
        fetched_at=fetched_at, source=source, emps=tuple(emps), etag='"v1"', cache_until=cache_until
    )
    store.save(snapshot)
    return snapshot


# --- the service ----------------------------------------------------------------------------------


def test_first_refresh_stores_a_snapshot_and_reports_every_emp_as_added(store):
    fetcher = FakeFetcher([fetched([NORWAY, POLAND])])
    report = refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW)
    assert fetcher.calls == [(SOURCE, None)]
    assert report.status == "updated"
    assert report.emp_count == 2
    assert [(c.kind, c.emp_id) for c in report.changes] == [("added", NORWAY.id), ("added", POLAND.id)]
    assert report.first_load
    stored = store.load()
    assert stored == report.snapshot
    assert (stored.emps, stored.etag, stored.fetched_at) == ((NORWAY, POLAND), '"v1"', NOW)
    assert stored.cache_until == NOW + timedelta(minutes=15)


def test_no_fetch_while_the_snapshot_is_cached_unless_forced(store):
    previous = seed(store, [NORWAY], cache_until=NOW + timedelta(minutes=5))
    fetcher = FakeFetcher([fetched([NORWAY, POLAND])])
    report = refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW)
    assert (report.status, report.snapshot, fetcher.calls) == ("skipped", previous, [])
    forced = refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW, force=True)
    assert forced.status == "updated" and not forced.first_load
    assert fetcher.calls == [(SOURCE, '"v1"')]


def test_not_modified_keeps_the_emps_and_moves_the_dates(store):
    seed(store, [NORWAY, POLAND], cache_until=NOW - timedelta(seconds=1))
    fetcher = FakeFetcher([FetchResult(True, None, '"v1"', NOW + timedelta(hours=1))])
    report = refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW)
    assert fetcher.calls == [(SOURCE, '"v1"')]
    assert report.status == "not_modified"
    assert report.changes == ()
    stored = store.load()
    assert (stored.emps, stored.fetched_at, stored.cache_until) == ((NORWAY, POLAND), NOW, NOW + timedelta(hours=1))


def test_a_new_source_is_fetched_without_the_old_etag_and_without_waiting(store):
    seed(store, [NORWAY], cache_until=NOW + timedelta(hours=1), source="https://old.example/list.json")
    fetcher = FakeFetcher([fetched([NORWAY])])
    assert refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW).status == "updated"
    assert fetcher.calls == [(SOURCE, None)]
    assert store.load().source == SOURCE


def test_changes_are_detected(store):
    seed(store, [NORWAY, POLAND, FINLAND])
    moved_poland = replace(POLAND, url="https://usos.uw.edu.pl/emrex", id=emp_id("PL", "https://usos.uw.edu.pl/emrex"))
    rekeyed_norway = replace(NORWAY, certificates=(CERT_1, CERT_3))
    sweden = emp("Ladok", "SE", "https://emrex.ladok.se/", CERT_2)
    fetcher = FakeFetcher([fetched([rekeyed_norway, moved_poland, sweden])])

    report = refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW)

    assert [(c.kind, c.emp_id, c.name, c.country) for c in report.changes] == [
        ("certificates_changed", NORWAY.id, NORWAY.name, "NO"),
        ("url_changed", moved_poland.id, "USOS", "PL"),
        ("added", sweden.id, "Ladok", "SE"),
        ("removed", FINLAND.id, "CSC", "FI"),
    ]
    assert report.changes[1].detail == f"{POLAND.url} -> https://usos.uw.edu.pl/emrex"
    cert_3_fp = rekeyed_norway.certificate_fingerprints()[1]
    assert report.changes[0].detail == f"added sha256 {cert_3_fp[:16]}; removed sha256 none"


def test_a_moved_emp_with_new_certificates_reports_both():
    moved = replace(POLAND, url="https://new.example/", id=emp_id("PL", "https://new.example/"), certificates=(CERT_3,))
    assert [c.kind for c in diff_emps((POLAND,), (moved,))] == ["url_changed", "certificates_changed"]


def test_unchanged_registry_reports_no_change():
    assert diff_emps((NORWAY, POLAND), (POLAND, NORWAY)) == ()


def test_skipped_entries_become_snapshot_warnings(store):
    body = render_ewp_catalogue([NORWAY, replace(POLAND, url="http://plain.example/")])
    fetcher = FakeFetcher([FetchResult(False, body, None, NOW + timedelta(minutes=15))])
    report = refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW)
    assert report.snapshot.emps == (NORWAY,)
    assert [n.code for n in report.notices] == ["REGISTRY_ENTRY_SKIPPED"]
    assert "http://plain.example/" in store.load().warnings[0]


def test_an_empty_registry_never_replaces_a_snapshot_with_emps(store):
    previous = seed(store, [NORWAY])
    with pytest.raises(EmrexError) as caught:
        refresh_registry(fetcher=FakeFetcher([fetched([])]), store=store, source=SOURCE, now=NOW)
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert "previous snapshot had 1" in caught.value.message
    assert store.load() == previous


def test_an_invalid_document_keeps_the_previous_snapshot(store):
    previous = seed(store, [NORWAY])
    broken = FetchResult(False, b"<catalogue><host>", None, NOW)
    with pytest.raises(EmrexError) as caught:
        refresh_registry(fetcher=FakeFetcher([broken]), store=store, source=SOURCE, now=NOW)
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert store.load() == previous


def test_a_snapshot_too_large_for_a_table_item_keeps_the_emps_that_fit_and_names_the_others(aws_env, store):
    small_limit = item_size(snapshot_item(seed(store, [FINLAND]))) + 200  # room for one EMP and two notes
    limited = RegistryStore(aws_env.dynamodb, aws_env.table, max_item_bytes=small_limit, cache_seconds=0)
    fetcher = FakeFetcher([fetched([NORWAY, POLAND, FINLAND])])

    report = refresh_registry(fetcher=fetcher, store=limited, source=SOURCE, now=NOW)

    assert report.status == "updated"
    assert store.load() == report.snapshot
    assert report.snapshot.emps == (FINLAND,)  # the two larger entries are left out
    reason = f"left out: the snapshot must fit its {small_limit}-byte table item"
    assert [(n.code, n.message) for n in report.notices] == [
        ("REGISTRY_SNAPSHOT_TRIMMED", f"EMP {NORWAY.id} (Vitnemålsportalen) {reason}"),
        ("REGISTRY_SNAPSHOT_TRIMMED", f"EMP {POLAND.id} (USOS) {reason}"),
    ]
    assert report.snapshot.unread == 2


def test_a_snapshot_in_which_not_even_one_emp_fits_keeps_the_previous_one(aws_env, store):
    previous = seed(store, [NORWAY])
    too_small = item_size(snapshot_item(replace(previous, emps=()))) + 100  # no room for any EMP
    limited = RegistryStore(aws_env.dynamodb, aws_env.table, max_item_bytes=too_small, cache_seconds=0)
    with pytest.raises(EmrexError) as caught:
        refresh_registry(fetcher=FakeFetcher([fetched([POLAND, FINLAND])]), store=limited, source=SOURCE, now=NOW)
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert "the previous snapshot is kept" in caught.value.message
    assert store.load() == previous


def large_but_valid_emp(n: int) -> Emp:
    """An EMP at every per-entry cap that matters for size, with incompressible (random) values."""
    url = f"https://emp-{n}.example/" + secrets.token_urlsafe(1450)[: MAX_URL_CHARS - 30]
    return Emp(
        id=emp_id("NO", url),
        name=secrets.token_urlsafe(150)[:MAX_NAME_CHARS],
        url=url,
        country="NO",
        institutions=tuple(secrets.token_urlsafe(150)[:MAX_INSTITUTION_CHARS] for _ in range(20)),
        certificates=(CERT_1,),
    )


def test_one_entry_with_a_400_kb_url_leaves_a_good_snapshot_with_one_short_warning(store):
    huge = replace(POLAND, url="https://usosweb.uw.edu.pl/" + secrets.token_urlsafe(300_000))
    fetcher = FakeFetcher([FetchResult(False, render_ewp_catalogue([NORWAY, huge]), None, NOW)])

    report = refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW)

    assert report.status == "updated"
    stored = store.load()
    assert stored.emps == (NORWAY,)
    (warning,) = stored.warnings
    assert warning == f"EMREX entry #2 has a URL of {len(huge.url)} characters, more than the 2000 allowed; skipped"


def test_many_large_but_valid_entries_too_big_for_the_item_leave_out_the_largest(store):
    seed(store, [NORWAY])
    emps = [large_but_valid_emp(n) for n in range(300)]
    fetcher = FakeFetcher([FetchResult(False, render_ewp_catalogue(emps), None, NOW)])

    report = refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW)

    assert report.status == "updated"
    stored = store.load()
    assert stored == report.snapshot
    assert item_size(snapshot_item(stored)) <= MAX_ITEM_BYTES
    kept = {emp.id for emp in stored.emps}
    left_out = [emp for emp in emps if emp.id not in kept]
    assert 0 < len(left_out) < len(emps) and len(stored.emps) + len(left_out) == len(emps)
    gzipped = {emp.id: len(gzip.compress(canonical_json(emp.to_json()))) for emp in emps}  # all new: ranked by it
    assert max(gzipped[emp.id] for emp in stored.emps) <= min(gzipped[emp.id] for emp in left_out)
    trimmed = [n.message for n in report.notices if n.code == "REGISTRY_SNAPSHOT_TRIMMED"]
    assert len(trimmed) == len(left_out) and all(f"EMP {emp.id} (" in " ".join(trimmed) for emp in left_out)
    assert stored.warnings == tuple(trimmed) and stored.unread == len(left_out)
    assert all(len(message) < 200 for message in trimmed)  # each names its EMP clipped


def test_new_incompressible_entries_of_about_its_size_do_not_evict_a_known_national_emp(aws_env, store):
    national = replace(NORWAY, institutions=tuple(f"Universitetet i Eksempelby nummer {n}" for n in range(200)))
    hostile = [large_but_valid_emp(n) for n in range(30)]
    assert all(emp.stored_size() < national.stored_size() for emp in hostile)  # the largest before gzip
    seed(store, [national])
    grown = RegistrySnapshot(fetched_at=NOW, source=SOURCE, emps=(national, *hostile[2:]), cache_until=NOW)
    limit = item_size(snapshot_item(grown)) + 800  # two of the newcomers must go
    limited = RegistryStore(aws_env.dynamodb, aws_env.table, max_item_bytes=limit, cache_seconds=0)
    fetcher = FakeFetcher([fetched([national, *hostile])])

    report = refresh_registry(fetcher=fetcher, store=limited, source=SOURCE, now=NOW)

    assert report.status == "updated" and report.snapshot.emps[0] == national
    trimmed = [n.message for n in report.notices if n.code == "REGISTRY_SNAPSHOT_TRIMMED"]
    assert 0 < len(trimmed) <= 2 and not any(national.id in message for message in trimmed)
    assert store.load() == report.snapshot


def test_large_entries_that_fit_only_without_warnings_are_stored_without_them(aws_env, store):
    emps = [large_but_valid_emp(n) for n in range(20)]
    skipped = [replace(NORWAY, url=f"http://plain-{n}.example/" + secrets.token_urlsafe(150)) for n in range(60)]
    body = render_ewp_catalogue([*emps, *skipped])
    parsed_emps = tuple(replace(emp, id=emp_id(emp.country, emp.url)) for emp in emps)
    bare = RegistrySnapshot(fetched_at=NOW, source=SOURCE, emps=parsed_emps, cache_until=NOW)
    limit = item_size(snapshot_item(bare)) + 300  # room for the EMPs and a note, not for 50 warnings
    limited = RegistryStore(aws_env.dynamodb, aws_env.table, max_item_bytes=limit, cache_seconds=0)

    report = refresh_registry(
        fetcher=FakeFetcher([FetchResult(False, body, None, NOW)]), store=limited, source=SOURCE, now=NOW
    )

    assert report.status == "updated"
    assert len(report.notices) == 52  # the report (logged) keeps every notice, and says the item could not
    note = f"51 warning(s) dropped to fit the {limit}-byte table item"
    assert (report.notices[-1].code, report.notices[-1].message) == ("REGISTRY_SNAPSHOT_TRIMMED", note)
    stored = store.load()
    assert stored == report.snapshot
    assert stored.emps == parsed_emps
    assert stored.warnings == (note,)


class RacingFetcher:
    """A slow fetch: while it waits for the registry, a second refresh (fetching later) runs to the end."""

    def __init__(self, slow_result: FetchResult, store: RegistryStore, later: datetime) -> None:
        self.slow_result, self.store, self.later = slow_result, store, later
        self.fast_report = None

    def fetch(self, source: str, *, etag: str | None = None, now: datetime) -> FetchResult:
        fast = FakeFetcher([fetched([NORWAY, POLAND, FINLAND], etag='"v2"')])
        self.fast_report = refresh_registry(fetcher=fast, store=self.store, source=source, now=self.later, force=True)
        return self.slow_result


@pytest.mark.parametrize(
    "slow_result",
    [fetched([NORWAY], etag='"v0"'), FetchResult(True, None, '"v1"', NOW + timedelta(minutes=15))],
    ids=["changed", "not-modified"],
)
def test_a_refresh_that_fetched_earlier_never_overwrites_one_that_fetched_later(aws_env, store, slow_result):
    seed(store, [NORWAY, POLAND])
    other_lambda = RegistryStore(aws_env.dynamodb, aws_env.table, consistent_read=True, cache_seconds=0)
    racer = RacingFetcher(slow_result, other_lambda, later=NOW + timedelta(seconds=30))

    report = refresh_registry(fetcher=racer, store=store, source=SOURCE, now=NOW)

    assert racer.fast_report.status == "updated"
    assert report.status == "superseded"
    assert report.changes == ()
    assert report.snapshot == racer.fast_report.snapshot  # the newer one, as stored
    stored = store.load()
    assert (stored.fetched_at, stored.etag) == (NOW + timedelta(seconds=30), '"v2"')
    assert stored.emps == (NORWAY, POLAND, FINLAND)


def test_change_details_from_an_old_unbounded_snapshot_are_clipped(store):
    old_url = "https://usosweb.uw.edu.pl/\u001b[2J" + "x" * 5000  # stored before entries were validated
    old_poland = replace(POLAND, url=old_url, id=emp_id("PL", old_url))
    old_finland = replace(FINLAND, name="CSC\u001b]0;x\u0007" + "n" * 500)
    seed(store, [old_poland, old_finland])
    report = refresh_registry(fetcher=FakeFetcher([fetched([POLAND])]), store=store, source=SOURCE, now=NOW)
    moved, removed = report.changes
    assert (moved.kind, removed.kind) == ("url_changed", "removed")
    assert moved.detail.startswith("https://usosweb.uw.edu.pl/ [2Jxxx")
    assert moved.detail.endswith(f"… -> {POLAND.url}")
    assert len(moved.detail) < 300
    assert removed.name.startswith("CSC ]0;x nnn")
    assert len(removed.name) == MAX_FIELD_CHARS
    assert all(is_clean(value) for change in report.changes for value in change.to_json().values())


def test_a_certificate_change_from_an_old_snapshot_with_many_certificates_is_clipped(store):
    many = tuple(make_certificate(f"old {n}") for n in range(60))  # stored before certificates were capped
    seed(store, [replace(NORWAY, certificates=many)])
    report = refresh_registry(fetcher=FakeFetcher([fetched([NORWAY])]), store=store, source=SOURCE, now=NOW)
    (change,) = report.changes
    assert change.kind == "certificates_changed"
    assert change.detail.startswith(f"added sha256 {NORWAY.certificate_fingerprints()[0][:16]}; removed sha256 ")
    assert len(change.detail) == MAX_MESSAGE_CHARS
    assert change.detail.endswith("…")


def test_not_modified_without_a_snapshot_is_unavailable(store):
    fetcher = FakeFetcher([FetchResult(True, None, '"x"', NOW)])
    with pytest.raises(EmrexError) as caught:
        refresh_registry(fetcher=fetcher, store=store, source=SOURCE, now=NOW)
    assert caught.value.code is ErrorCode.REGISTRY_UNAVAILABLE
    assert store.load() is None


# --- the Lambda handler, end to end (moto DynamoDB, a catalogue file as the registry) -------------------


@pytest.fixture
def lambda_env(aws_env, monkeypatch, tmp_path):
    catalogue = tmp_path / "catalogue-v1.xml"
    catalogue.write_bytes(render_ewp_catalogue([NORWAY, POLAND]))
    monkeypatch.setenv("EMREX_REGISTRY_URL", str(catalogue))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    refresh_handler.reset()
    yield catalogue
    refresh_handler.reset()


def emitted_metrics(capsys) -> dict[str, float]:
    """Powertools Metrics prints EMF blobs (JSON lines) on stdout."""
    values = {}
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if "_aws" in record:
            assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "EMREX"
            for definition in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = record[definition["Name"]]
                values[definition["Name"]] = value[0] if isinstance(value, list) else value
    return values


def change_logs(caplog) -> list[tuple[str, str, str, str]]:
    return [
        (r.change, r.emp_id, r.emp_name, r.country) for r in caplog.records if r.getMessage() == "registry EMP changed"
    ]


def test_handler_refreshes_stores_and_emits_metrics(lambda_env, aws_env, capsys, caplog):
    result = refresh_handler.handler({}, LAMBDA_CONTEXT)

    assert result["status"] == "updated"
    assert result["emp_count"] == 2
    assert [c["kind"] for c in result["changes"]] == ["added", "added"]
    stored = RegistryStore(aws_env.dynamodb, aws_env.table).load()
    assert stored.emps == (NORWAY, POLAND)
    assert stored.source == str(lambda_env)
    metric_values = emitted_metrics(capsys)
    # the first load changes nothing for anyone: it is logged as a load, no EMP as changed (nor announced)
    assert {name: metric_values[name] for name in ("RegistryEmpChanged", "RegistryEmpCount")} == {
        "RegistryEmpChanged": 0,
        "RegistryEmpCount": 2,
    }
    assert metric_values["RegistrySnapshotAgeSeconds"] == 0
    assert metric_values["RegistryEventsQueued"] == 0
    assert change_logs(caplog) == []
    [loaded] = [record for record in caplog.records if record.getMessage() == "registry loaded"]
    assert (loaded.emp_count, loaded.registries) == (2, 1)
    assert not [record for record in caplog.records if record.getMessage() == "registry refresh done"]


def test_handler_skips_while_fresh_and_force_gets_not_modified(lambda_env, capsys):
    refresh_handler.handler({}, LAMBDA_CONTEXT)
    assert refresh_handler.handler({}, LAMBDA_CONTEXT)["status"] == "skipped"
    assert refresh_handler.handler({"force": True}, LAMBDA_CONTEXT)["status"] == "not_modified"


def test_handler_logs_a_certificate_change(lambda_env, capsys, caplog):
    refresh_handler.handler({}, LAMBDA_CONTEXT)
    lambda_env.write_bytes(render_ewp_catalogue([replace(NORWAY, certificates=(CERT_2,)), POLAND]))
    capsys.readouterr()
    caplog.clear()

    result = refresh_handler.handler({"force": True}, LAMBDA_CONTEXT)

    assert [(c["kind"], c["emp_id"]) for c in result["changes"]] == [("certificates_changed", NORWAY.id)]
    assert emitted_metrics(capsys)["RegistryEmpChanged"] == 1
    assert change_logs(caplog) == [("certificates_changed", NORWAY.id, NORWAY.name, "NO")]


def test_handler_failure_with_a_snapshot_reports_its_age_instead_of_crashing(lambda_env, aws_env, capsys, caplog):
    seed(RegistryStore(aws_env.dynamodb, aws_env.table), [NORWAY], fetched_at=datetime.now(UTC) - timedelta(days=2))
    lambda_env.unlink()

    result = refresh_handler.handler({}, LAMBDA_CONTEXT)

    assert result["status"] == "failed"
    assert result["error"]["code"] == "REGISTRY_UNAVAILABLE"
    assert result["snapshot_stale"] is True  # two days > the 24 h default ceiling
    assert result["snapshot_age_seconds"] >= 2 * 86400
    metric_values = emitted_metrics(capsys)
    assert metric_values["RegistryRefreshFailed"] == 1
    assert metric_values["RegistrySnapshotAgeSeconds"] >= 2 * 86400
    assert [(r.levelname, r.error_code) for r in caplog.records] == [("ERROR", "REGISTRY_UNAVAILABLE")]


def test_handler_refusing_an_oversized_snapshot_keeps_the_previous_one(lambda_env, aws_env, monkeypatch, capsys):
    previous = seed(RegistryStore(aws_env.dynamodb, aws_env.table), [NORWAY], fetched_at=datetime.now(UTC))
    monkeypatch.setattr(refresh_handler, "RegistryStore", partial(RegistryStore, max_item_bytes=512))  # no EMP fits
    refresh_handler.reset()

    result = refresh_handler.handler({"force": True}, LAMBDA_CONTEXT)

    assert (result["status"], result["error"]["code"], result["emp_count"]) == ("failed", "REGISTRY_INVALID", 1)
    assert "bytes allowed; the previous snapshot is kept" in result["error"]["message"]
    assert emitted_metrics(capsys)["RegistryRefreshFailed"] == 1
    assert RegistryStore(aws_env.dynamodb, aws_env.table).load() == previous


def test_handler_on_a_fresh_deploy_stores_the_good_emp_despite_a_400_kb_url(lambda_env, aws_env, capsys):
    huge = replace(POLAND, url="https://usosweb.uw.edu.pl/" + secrets.token_urlsafe(300_000))
    lambda_env.write_bytes(render_ewp_catalogue([NORWAY, huge]))

    result = refresh_handler.handler({}, LAMBDA_CONTEXT)

    assert (result["status"], result["emp_count"]) == ("updated", 1)
    (notice,) = result["notices"]
    assert len(notice["message"]) < 120
    stored = load_fresh(RegistryStore(aws_env.dynamodb, aws_env.table), now=datetime.now(UTC), max_age_seconds=60)
    assert stored.emps == (NORWAY,)
    assert "RegistryRefreshFailed" not in emitted_metrics(capsys)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_on_a_fresh_deploy_offers_the_good_emp_despite_one_hostile_entry_within_every_cap(
    lambda_env, aws_env, make_transfer, capsys
):
    hostile = audit_entry()
    lambda_env.write_bytes(render_ewp_catalogue([NORWAY, hostile]))
    assert item_size(snapshot_item(RegistrySnapshot(NOW, SOURCE, (NORWAY, hostile)))) > MAX_ITEM_BYTES  # untrimmed

    result = refresh_handler.handler({}, LAMBDA_CONTEXT)

    assert (result["status"], result["emp_count"]) == ("updated", 2)
    (notice,) = result["notices"]
    assert notice["code"] == "REGISTRY_ENTRY_TRIMMED"
    assert notice["message"].endswith(
        "kept 0 of 200 covered institutions, 0 of 200 institution names, 3 of 5 certificates"
    )
    item = aws_env.dynamodb.get_item(TableName=aws_env.table, Key={"pk": {"S": SNAPSHOT_PK}})["Item"]
    assert item_size(item) <= MAX_ITEM_BYTES
    assert "RegistryRefreshFailed" not in emitted_metrics(capsys)

    page = get_page(make_transfer().id)
    assert page["statusCode"] == 200
    assert labels(page) == ["Vitnemålsportalen", "Hostile EMP"]  # the good EMP is offered
    health = start.handler(apigw_event("GET", "/health", route_key="GET /health"), LAMBDA_CONTEXT)
    assert (health["statusCode"], json.loads(health["body"])["registry"]["emp_count"]) == (200, 2)


def test_handler_that_loses_a_race_reports_superseded_without_failing(lambda_env, aws_env, monkeypatch, capsys, caplog):
    table = RegistryStore(aws_env.dynamodb, aws_env.table)

    class SlowFetcher(RegistryFetcher):
        def fetch(self, source: str, *, etag: str | None = None, now: datetime) -> FetchResult:
            seed(table, [FINLAND], fetched_at=now + timedelta(seconds=5), source=source)  # another run, later
            return super().fetch(source, etag=etag, now=now)

    monkeypatch.setattr(refresh_handler, "RegistryFetcher", SlowFetcher)
    refresh_handler.reset()

    result = refresh_handler.handler({}, LAMBDA_CONTEXT)

    assert (result["status"], result["emp_count"], result["changes"]) == ("superseded", 1, [])
    assert table.load(use_cache=False).emps == (FINLAND,)
    assert "RegistryRefreshFailed" not in emitted_metrics(capsys)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "registry refresh skipped: a newer snapshot is stored")
    ]


def test_handler_failure_without_a_snapshot_raises(lambda_env, capsys):
    lambda_env.write_bytes(b"not a registry")
    with pytest.raises(EmrexError) as caught:
        refresh_handler.handler({}, LAMBDA_CONTEXT)
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert emitted_metrics(capsys) == {"RegistryRefreshFailed": 1}


def per_emp_metrics(output: str, name: str) -> dict[str, float]:
    """emp_id -> value of the per-EMP metric ``name``, from EMF blobs whose namespace and dimensions are exactly
    what the dashboard searches (``PER_EMP``: ``{EMREX,emp_id,service}``) for the registry refresh function."""
    namespace, *dimensions = PER_EMP.strip("{}").split(",")
    values = {}
    for line in output.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            if name not in [metric["Name"] for metric in directive["Metrics"]]:
                continue
            assert (directive["Namespace"], directive["Dimensions"]) == (namespace, [dimensions])
            assert record["service"] == "registry_refresh"
            value = record[name]
            values[record["emp_id"]] = value[0] if isinstance(value, list) else value
    return values


def test_handler_emits_the_days_until_each_emps_first_certificate_expires(lambda_env, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "registry_refresh")  # as the stack names the function
    now = datetime.now(UTC)
    soon = make_certificate("soon", not_after=now + timedelta(days=10, hours=12))
    later = make_certificate("later", not_after=now + timedelta(days=200, hours=12))
    norway, poland = replace(NORWAY, certificates=(later, soon)), replace(POLAND, certificates=(later,))
    lambda_env.write_bytes(render_ewp_catalogue([norway, poland]))

    assert refresh_handler.handler({}, LAMBDA_CONTEXT)["status"] == "updated"

    days_left = per_emp_metrics(capsys.readouterr().out, "EmpCertificateDaysLeft")
    assert days_left == {NORWAY.id: 10, POLAND.id: 200}  # per EMP, its first certificate to expire
