import gzip
import hashlib
import json
import os
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from emrex_emc.adapters.registry_store import (
    MAX_ITEM_BYTES,
    SNAPSHOT_PK,
    RegistryStore,
    fetched_at_attribute,
    item_size,
    load_fresh,
    snapshot_item,
)
from emrex_emc.core.canonical import canonical_json
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.registry import Emp, RegistryPart, RegistrySnapshot, emp_id
from tests.adapters.conftest import ADAPTER_TABLE, make_certificate

TABLE = ADAPTER_TABLE
KEY = {"pk": {"S": SNAPSHOT_PK}}
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
CERT = make_certificate("no")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def snapshot(fetched_at: datetime = NOW, *, certificates: tuple[bytes, ...] = (CERT,)) -> RegistrySnapshot:
    url = "https://emp.example.no/emrex"
    emp = Emp(
        id=emp_id("NO", url),
        name="Vitnemålsportalen",
        url=url,
        country="NO",
        institutions=("Universitetet i Oslo",),
        certificates=certificates,
        single_fetch=True,
        source="emreg",
    )
    return RegistrySnapshot(
        fetched_at=fetched_at,
        source="https://registry.example/catalogue-v1.xml",
        emps=(emp,),
        etag='"abc"',
        cache_until=fetched_at + timedelta(minutes=15),
        warnings=("an EMP was skipped",),
    )


def stored_item(dynamodb: Any) -> dict[str, Any]:
    return dynamodb.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)["Item"]  # type: ignore[no-any-return]


def test_snapshot_round_trip(dynamodb):
    RegistryStore(dynamodb, TABLE).save(snapshot())
    assert RegistryStore(dynamodb, TABLE).load() == snapshot()


def test_the_item_holds_compressed_json_and_plain_attributes_for_operators(dynamodb):
    RegistryStore(dynamodb, TABLE).save(snapshot())
    item = stored_item(dynamodb)
    body = gzip.decompress(item["snapshot"]["B"])
    assert json.loads(body)["emps"][0]["name"] == "Vitnemålsportalen"
    assert item["sha256"] == {"S": hashlib.sha256(body).hexdigest()}
    assert item["format"] == {"S": "json+gzip"}
    assert item["fetched_at"] == {"S": "2026-05-04T12:00:00.000000Z"}
    assert item["source"] == {"S": "https://registry.example/catalogue-v1.xml"}
    assert item["emp_count"] == {"N": "1"}
    assert set(item) == {"pk", "format", "snapshot", "sha256", "fetched_at", "source", "emp_count"}


def test_the_item_never_carries_the_ttl_attribute(dynamodb):
    store = RegistryStore(dynamodb, TABLE)
    store.save(snapshot())
    # someone (or an old version) gave the item an expiry: the next save replaces the whole item
    dynamodb.update_item(
        TableName=TABLE, Key=KEY, UpdateExpression="SET expires_at = :t", ExpressionAttributeValues={":t": {"N": "1"}}
    )
    store.save(snapshot(NOW + timedelta(minutes=15)))
    assert "expires_at" not in stored_item(dynamodb)


def test_no_snapshot_yet_is_none(dynamodb):
    assert RegistryStore(dynamodb, TABLE).load() is None


def test_readers_cache_for_a_while_then_reload(dynamodb):
    clock = FakeClock()
    reader = RegistryStore(dynamodb, TABLE, cache_seconds=60, clock=clock)
    assert reader.load() is None
    RegistryStore(dynamodb, TABLE).save(snapshot())  # another process writes
    clock.now += 59
    assert reader.load() is None
    assert reader.load(use_cache=False) == snapshot()
    RegistryStore(dynamodb, TABLE).save(snapshot(NOW + timedelta(hours=1)))
    clock.now += 30
    assert reader.load().fetched_at == NOW
    clock.now += 31
    assert reader.load().fetched_at == NOW + timedelta(hours=1)


def test_save_updates_the_writers_own_cache(dynamodb):
    store = RegistryStore(dynamodb, TABLE, clock=FakeClock())
    assert store.load() is None
    store.save(snapshot())
    assert store.load() == snapshot()


class RecordingClient:
    def __init__(self, real: Any) -> None:
        self.real, self.reads = real, []

    def get_item(self, **kwargs: Any) -> Any:
        self.reads.append(kwargs)
        return self.real.get_item(**kwargs)


@pytest.mark.parametrize("consistent", [False, True])
def test_consistent_reads_only_when_asked(dynamodb, consistent):
    client = RecordingClient(dynamodb)
    RegistryStore(client, TABLE, consistent_read=consistent).load()
    assert client.reads == [{"TableName": TABLE, "Key": KEY, "ConsistentRead": consistent}]


def test_an_item_above_the_limit_is_refused_and_the_previous_snapshot_stays(dynamodb):
    store = RegistryStore(dynamodb, TABLE, clock=FakeClock())
    store.save(snapshot())
    huge = snapshot(NOW + timedelta(hours=1), certificates=(os.urandom(MAX_ITEM_BYTES + 10_000),))  # incompressible
    with pytest.raises(EmrexError) as caught:
        store.save(huge)
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert f"more than the {MAX_ITEM_BYTES} bytes allowed; the previous snapshot is kept" in caught.value.message
    assert store.load() == snapshot()  # the writer's cache
    assert store.load(use_cache=False) == snapshot()  # the table


def test_warnings_are_dropped_first_when_the_item_would_be_too_large(dynamodb):
    store = RegistryStore(dynamodb, TABLE, clock=FakeClock())
    bare = replace(snapshot(), warnings=())
    noisy = replace(bare, warnings=tuple(secrets.token_hex(300) for _ in range(50)))  # 30 KB, incompressible
    limit = item_size(snapshot_item(bare)) + 200
    assert item_size(snapshot_item(noisy)) > limit
    limited = RegistryStore(dynamodb, TABLE, max_item_bytes=limit, clock=FakeClock())

    stored = limited.save(noisy)

    assert stored == replace(noisy, warnings=(f"50 warning(s) dropped to fit the {limit}-byte table item",))
    assert item_size(stored_item(dynamodb)) <= limit
    assert store.load(use_cache=False) == stored
    assert limited.save(bare) == bare  # nothing to drop when it fits


def sized_emp(n: int, institutions: int) -> Emp:
    """An EMP whose size grows with ``institutions`` (random names of 200 characters: they do not compress)."""
    url = f"https://emp-{n}.example/emrex"
    names = tuple(secrets.token_urlsafe(150) for _ in range(institutions))
    return Emp(id=emp_id("NO", url), name=f"EMP {n}", url=url, country="NO", institutions=names, certificates=(CERT,))


def test_the_largest_emps_are_left_out_when_dropping_the_warnings_is_not_enough(dynamodb):
    emps = tuple(sized_emp(n, institutions) for n, institutions in enumerate((3, 9, 1, 7, 2, 8)))
    noisy = replace(snapshot(), emps=emps, warnings=("an EMP was skipped",) * 3)
    limit = item_size(snapshot_item(replace(noisy, emps=emps[::2], warnings=()))) + 500  # EMP 0, 2, 4 and notes
    store = RegistryStore(dynamodb, TABLE, max_item_bytes=limit, clock=FakeClock())

    stored = store.save(noisy)

    assert stored is not None and stored.emps == (emps[0], emps[2], emps[4])  # in their order, the largest left out
    assert item_size(stored_item(dynamodb)) <= limit
    reason = f"the snapshot must fit its {limit}-byte table item"
    assert stored.warnings == (
        f"3 warning(s) dropped to fit the {limit}-byte table item",
        *(f"EMP {emps[n].id} (EMP {n}) left out: {reason}" for n in (1, 3, 5)),
    )
    assert stored.unread == 3  # not gone from the registry: the snapshot is partial for registry changes
    assert store.load(use_cache=False) == stored
    one_fewer = noisy.without_warnings(stored.warnings[0]).without_emps({emps[1], emps[5]}, reason)
    assert item_size(snapshot_item(one_fewer)) > limit  # as few left out as make it fit


def gzipped_size(emp: Emp) -> int:
    return len(gzip.compress(canonical_json(emp.to_json())))


def national_emp(institutions: int) -> Emp:
    """A large EMP whose readable names compress well (a national EMP covering many institutions)."""
    url = "https://national.example.no/emrex"
    names = tuple(f"Universitetet i Eksempelby {n}" for n in range(institutions))
    return Emp(
        id=emp_id("NO", url), name="National EMP", url=url, country="NO", institutions=names, certificates=(CERT,)
    )


def test_emps_of_the_stored_snapshot_are_kept_ahead_of_new_ones(dynamodb):
    known = sized_emp(0, 24)  # the largest, stored and gzipped
    newcomers = tuple(sized_emp(n, 8) for n in range(1, 7))
    RegistryStore(dynamodb, TABLE).save(replace(snapshot(NOW - timedelta(hours=1)), emps=(known,), warnings=()))
    grown = replace(snapshot(), emps=(known, *newcomers), warnings=())
    limit = item_size(snapshot_item(replace(grown, emps=(known, *newcomers[2:])))) + 500
    assert item_size(snapshot_item(replace(grown, emps=newcomers))) < limit  # leaving `known` out would fit too

    stored = RegistryStore(dynamodb, TABLE, max_item_bytes=limit, consistent_read=True).save(grown)

    assert stored is not None and known in stored.emps  # newcomers are left out first, however small
    left_out = [emp for emp in newcomers if emp not in stored.emps]
    assert left_out and all(f"EMP {emp.id} (" in " ".join(stored.warnings) for emp in left_out)
    assert item_size(stored_item(dynamodb)) <= limit


def test_on_a_first_load_the_emps_adding_most_to_the_gzipped_item_are_left_out_first(dynamodb):
    national = national_emp(400)
    hostile = tuple(sized_emp(n, 40) for n in range(1, 9))  # random names: they do not compress
    assert all(emp.stored_size() < national.stored_size() for emp in hostile)  # smaller before gzip ...
    assert all(gzipped_size(emp) > gzipped_size(national) for emp in hostile)  # ... larger after
    registry = replace(snapshot(), emps=(national, *hostile), warnings=())
    limit = item_size(snapshot_item(replace(registry, emps=(national, *hostile[2:])))) + 500

    stored = RegistryStore(dynamodb, TABLE, max_item_bytes=limit).save(registry)

    assert stored is not None and stored.emps[0] == national
    assert 0 < len(hostile) - (len(stored.emps) - 1) <= 2
    assert item_size(stored_item(dynamodb)) <= limit


def test_an_emp_left_out_is_named_in_the_part_of_its_own_registry(dynamodb):
    first, second = sized_emp(0, 1), sized_emp(1, 9)
    parts = (
        RegistryPart("https://registry.example/catalogue-v1.xml", NOW, (first,), etag='"c1"'),
        RegistryPart("https://emreg.example/list", NOW, (second,), etag='"e1"', warnings=("kept",), unread=1),
    )
    combined = RegistrySnapshot.of_parts(parts)
    limit = item_size(snapshot_item(RegistrySnapshot.of_parts([parts[0], replace(parts[1], emps=())]))) + 200

    stored = RegistryStore(dynamodb, TABLE, max_item_bytes=limit).save(combined)

    assert stored is not None and stored.emps == (first,)
    assert [(part.emps, part.unread) for part in stored.source_parts()] == [((first,), 0), ((), 2)]
    assert [part.etag for part in stored.source_parts()] == ['"c1"', None]  # refetched whole, not "not modified"
    assert stored.source_parts()[0].warnings == (f"1 warning(s) dropped to fit the {limit}-byte table item",)
    assert stored.source_parts()[1].warnings == (
        f"EMP {second.id} (EMP 1) left out: the snapshot must fit its {limit}-byte table item",
    )


def test_the_limit_is_inclusive(dynamodb):
    size = item_size(snapshot_item(snapshot()))
    RegistryStore(dynamodb, TABLE, max_item_bytes=size).save(snapshot())
    with pytest.raises(EmrexError) as caught:
        RegistryStore(dynamodb, TABLE, max_item_bytes=size - 1).save(snapshot())  # the same bytes, one byte less room
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert RegistryStore(dynamodb, TABLE).load() == snapshot()


def test_item_size_counts_names_and_values():
    item = {"pk": {"S": "é"}, "b": {"B": b"\x00" * 10}, "n": {"N": "123"}}
    assert item_size(item) == (2 + 2) + (1 + 10) + (1 + 4)


def _corrupt(item: dict[str, Any], how: str) -> dict[str, Any]:
    body = gzip.decompress(item["snapshot"]["B"])
    if how == "no snapshot attribute":
        del item["snapshot"]
    elif how == "not gzip":
        item["snapshot"] = {"B": body}
    elif how == "truncated gzip":
        item["snapshot"] = {"B": item["snapshot"]["B"][:-8]}
    elif how == "sha256 mismatch":
        item["sha256"] = {"S": hashlib.sha256(b"other").hexdigest()}
    elif how == "unknown format":
        item["format"] = {"S": "json+zstd"}
    elif how == "snapshot without fields":
        other = json.dumps({"source": "x"}).encode()
        item["snapshot"] = {"B": gzip.compress(other)}
        item["sha256"] = {"S": hashlib.sha256(other).hexdigest()}
    return item


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("no snapshot attribute", "KeyError"),
        ("not gzip", "BadGzipFile"),
        ("truncated gzip", "EOFError"),
        ("sha256 mismatch", "does not match its sha256"),
        ("unknown format", "format 'json+zstd'"),
        ("snapshot without fields", "KeyError"),
    ],
)
def test_unreadable_snapshot_is_registry_invalid(dynamodb, how, reason):
    dynamodb.put_item(TableName=TABLE, Item=_corrupt(snapshot_item(snapshot()), how))
    with pytest.raises(EmrexError) as caught:
        RegistryStore(dynamodb, TABLE).load()
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert reason in caught.value.message


def test_an_older_snapshot_never_overwrites_a_newer_one(dynamodb):
    writer = RegistryStore(dynamodb, TABLE, clock=FakeClock())
    newer = snapshot(NOW + timedelta(minutes=15))
    assert RegistryStore(dynamodb, TABLE).save(newer) == newer
    writer.load()  # the losing writer had cached something older
    assert writer.save(snapshot()) is None
    assert stored_item(dynamodb)["fetched_at"] == {"S": "2026-05-04T12:15:00.000000Z"}
    assert writer.load() == newer  # its cache was dropped, not left with what it failed to write


def test_a_snapshot_fetched_at_the_same_instant_overwrites_so_a_retry_succeeds(dynamodb):
    store = RegistryStore(dynamodb, TABLE)
    store.save(snapshot())
    again = replace(snapshot(), warnings=("retried",))
    assert store.save(again) == again
    assert RegistryStore(dynamodb, TABLE).load(use_cache=False) == again


def test_fetched_at_is_stored_in_utc_whatever_the_offset_given():
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert snapshot_item(snapshot(plus_two))["fetched_at"] == {"S": "2026-05-04T12:00:00.000000Z"}
    assert fetched_at_attribute(NOW + timedelta(microseconds=7)) == "2026-05-04T12:00:00.000007Z"


@pytest.mark.parametrize("stored_as", ["2026-05-04T12:00:00+00:00", "2026-05-04T12:00:00.000000+00:00"])
def test_an_item_written_before_the_fixed_format_is_compared_correctly(dynamodb, stored_as):
    """Earlier versions stored ``isoformat()`` of a UTC time; it sorts as the same instant in the new format."""
    old = snapshot_item(snapshot())
    old["fetched_at"] = {"S": stored_as}
    dynamodb.put_item(TableName=TABLE, Item=old)
    store = RegistryStore(dynamodb, TABLE)
    assert store.save(snapshot(NOW - timedelta(microseconds=1))) is None
    assert store.save(snapshot(NOW)) == snapshot(NOW)
    assert stored_item(dynamodb)["fetched_at"] == {"S": "2026-05-04T12:00:00.000000Z"}


def test_missing_table_is_unavailable(dynamodb):
    store = RegistryStore(dynamodb, "no-such-table")
    for call in (store.load, lambda: store.save(snapshot())):
        with pytest.raises(EmrexError) as caught:
            call()
        assert caught.value.code is ErrorCode.REGISTRY_UNAVAILABLE
        assert "ResourceNotFoundException" in caught.value.message


def test_load_fresh_without_snapshot_is_unavailable(dynamodb):
    with pytest.raises(EmrexError) as caught:
        load_fresh(RegistryStore(dynamodb, TABLE), now=NOW, max_age_seconds=3600)
    assert caught.value.code is ErrorCode.REGISTRY_UNAVAILABLE
    assert caught.value.message == "no registry snapshot has been stored yet"


def test_load_fresh_returns_a_young_snapshot_and_refuses_a_stale_one(dynamodb):
    store = RegistryStore(dynamodb, TABLE)
    store.save(snapshot())
    assert load_fresh(store, now=NOW + timedelta(seconds=3600), max_age_seconds=3600) == snapshot()
    with pytest.raises(EmrexError) as caught:
        load_fresh(store, now=NOW + timedelta(seconds=3601), max_age_seconds=3600)
    assert caught.value.code is ErrorCode.REGISTRY_STALE
    assert "3601 s old" in caught.value.message
    assert "more than the 3600 s allowed" in caught.value.message
