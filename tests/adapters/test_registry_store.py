import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from emrex_emc.adapters.registry_store import RegistryStore, load_fresh
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.registry import Emp, RegistrySnapshot, emp_id
from tests.adapters.conftest import make_certificate

REGION = "eu-west-1"
BUCKET = "registry-test"
KEY = "registry/snapshot.json"
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
CERT = make_certificate("no")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def s3(mocked_aws: None) -> object:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def snapshot(fetched_at: datetime = NOW) -> RegistrySnapshot:
    url = "https://emp.example.no/emrex"
    emp = Emp(
        id=emp_id("NO", url),
        name="Vitnemålsportalen",
        url=url,
        country="NO",
        institutions=("Universitetet i Oslo",),
        certificates=(CERT,),
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


def test_snapshot_round_trip(s3):
    RegistryStore(s3, BUCKET, KEY).save(snapshot())
    loaded = RegistryStore(s3, BUCKET, KEY).load()
    assert loaded == snapshot()
    stored = s3.get_object(Bucket=BUCKET, Key=KEY)
    assert stored["ContentType"] == "application/json"
    assert json.loads(stored["Body"].read())["emps"][0]["name"] == "Vitnemålsportalen"


def test_no_snapshot_yet_is_none(s3):
    assert RegistryStore(s3, BUCKET, KEY).load() is None


def test_readers_cache_for_a_while_then_reload(s3):
    clock = FakeClock()
    reader = RegistryStore(s3, BUCKET, KEY, cache_seconds=60, clock=clock)
    assert reader.load() is None
    RegistryStore(s3, BUCKET, KEY).save(snapshot())  # another process writes
    clock.now += 59
    assert reader.load() is None
    assert reader.load(use_cache=False) == snapshot()
    RegistryStore(s3, BUCKET, KEY).save(snapshot(NOW + timedelta(hours=1)))
    clock.now += 30
    assert reader.load().fetched_at == NOW
    clock.now += 31
    assert reader.load().fetched_at == NOW + timedelta(hours=1)


def test_save_updates_the_writers_own_cache(s3):
    store = RegistryStore(s3, BUCKET, KEY, clock=FakeClock())
    assert store.load() is None
    store.save(snapshot())
    assert store.load() == snapshot()


def test_sse_kms_is_requested_when_configured(s3):
    kms = boto3.client("kms", region_name=REGION)
    key_id = kms.create_key()["KeyMetadata"]["Arn"]
    RegistryStore(s3, BUCKET, KEY, sse_kms=True, kms_key_id=key_id).save(snapshot())
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_id


def test_without_kms_configuration_the_bucket_default_applies(s3):
    RegistryStore(s3, BUCKET, KEY).save(snapshot())
    assert s3.head_object(Bucket=BUCKET, Key=KEY).get("ServerSideEncryption") != "aws:kms"


def test_unreadable_snapshot_is_registry_invalid(s3):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'{"source": "x"}')
    with pytest.raises(EmrexError) as caught:
        RegistryStore(s3, BUCKET, KEY).load()
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert "KeyError" in caught.value.message


def test_missing_bucket_is_unavailable(s3):
    store = RegistryStore(s3, "no-such-bucket", KEY)
    for call in (store.load, lambda: store.save(snapshot())):
        with pytest.raises(EmrexError) as caught:
            call()
        assert caught.value.code is ErrorCode.REGISTRY_UNAVAILABLE
        assert "NoSuchBucket" in caught.value.message


def test_load_fresh_without_snapshot_is_unavailable(s3):
    with pytest.raises(EmrexError) as caught:
        load_fresh(RegistryStore(s3, BUCKET, KEY), now=NOW, max_age_seconds=3600)
    assert caught.value.code is ErrorCode.REGISTRY_UNAVAILABLE
    assert caught.value.message == "no registry snapshot has been stored yet"


def test_load_fresh_returns_a_young_snapshot_and_refuses_a_stale_one(s3):
    store = RegistryStore(s3, BUCKET, KEY)
    store.save(snapshot())
    assert load_fresh(store, now=NOW + timedelta(seconds=3600), max_age_seconds=3600) == snapshot()
    with pytest.raises(EmrexError) as caught:
        load_fresh(store, now=NOW + timedelta(seconds=3601), max_age_seconds=3600)
    assert caught.value.code is ErrorCode.REGISTRY_STALE
    assert "3601 s old" in caught.value.message
    assert "more than the 3600 s allowed" in caught.value.message
