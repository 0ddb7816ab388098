"""Registry comparisons (pure): what is added, removed, re-keyed or expiring, and stable event ids."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from emrex_emc.core.events import DetailType
from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.registry import Emp, Emrex2Endpoints, emp_id, url_origin
from emrex_emc.core.registry_events import (
    EmpKeys,
    RegistryBaseline,
    emp_changes,
    expiring_certificates,
)
from emrex_emc.core.registry_parse import parse_ewp_catalogue, render_ewp_catalogue
from tests.adapters.conftest import make_certificate

NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
CERT_A, CERT_B = make_certificate("a"), make_certificate("b")


def emp(country: str, url: str, *certs: bytes, name: str = "EMP") -> Emp:
    return Emp(id=emp_id(country, url), name=name, url=url, country=country, certificates=certs)


ONE = emp("NO", "https://one.example/emp", CERT_A)
TWO = emp("PL", "https://two.example/emp", CERT_B)


def public_key() -> bytes:
    """A fresh RSA public key, DER SubjectPublicKeyInfo (what EMREG v2 publishes for an EMREX 2.0 EMP)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def emrex2_emp(spki: bytes) -> Emp:
    endpoints = Emrex2Endpoints(
        "https://emp.nl.example/oauth2/authorize", "https://emp.nl.example/oauth2/token", "https://emp.nl.example/r"
    )
    return Emp(
        id=emp_id("NL", url_origin(endpoints.authorization_url)),
        name="DUO",
        url=endpoints.authorization_url,
        country="NL",
        source="emreg2",
        protocol=ProtocolVersion.EMREX_2,
        emrex2=endpoints,
        public_key=spki,
    )


def baseline(*emps: Emp, at: datetime = NOW - timedelta(hours=1)) -> RegistryBaseline:
    return RegistryBaseline.of(at, emps, 0)


def keys(*emps: Emp) -> tuple[EmpKeys, ...]:
    return tuple(EmpKeys.of(e) for e in emps)


def test_changes_and_their_fingerprints() -> None:
    rekeyed = replace(ONE, certificates=(CERT_B, CERT_A))
    events = emp_changes(baseline(ONE, TWO), keys(rekeyed), now=NOW)
    assert [(e.detail_type, e.emp.id) for e in events] == [
        (DetailType.EMP_CERTIFICATE_CHANGED, ONE.id),
        (DetailType.EMP_REMOVED, TWO.id),
    ]
    changed = events[0].detail()
    assert changed["old_fingerprints"] == list(ONE.certificate_fingerprints())
    assert changed["new_fingerprints"] == sorted(rekeyed.certificate_fingerprints())
    assert changed["detected_at"] == "2027-01-15T08:00:00Z"


def test_a_rotated_emreg2_public_key_is_a_change_of_public_key_fingerprints() -> None:
    old_key, new_key = public_key(), public_key()
    before, after = emrex2_emp(old_key), emrex2_emp(new_key)
    (event,) = emp_changes(baseline(before, ONE), keys(after, ONE), now=NOW)
    assert (event.detail_type, event.emp.id) == (DetailType.EMP_CERTIFICATE_CHANGED, before.id)
    detail = event.detail()
    assert detail["key_type"] == "public_key"
    assert detail["old_fingerprints"] == [hashlib.sha256(old_key).hexdigest()]
    assert detail["new_fingerprints"] == [hashlib.sha256(new_key).hexdigest()]
    assert detail["emp"]["protocol"] == "emrex-2"
    assert emp_changes(baseline(before), keys(emrex2_emp(old_key)), now=NOW) == []  # the same key: no change


def test_certificate_order_and_repeats_are_no_change() -> None:
    before, after = replace(ONE, certificates=(CERT_A, CERT_B)), replace(ONE, certificates=(CERT_B, CERT_A, CERT_B))
    assert emp_changes(baseline(before), keys(after), now=NOW) == []


def test_event_ids_repeat_for_the_same_change_from_the_same_baseline_only() -> None:
    first = emp_changes(baseline(ONE), keys(ONE, TWO), now=NOW)
    retried = emp_changes(baseline(ONE), keys(ONE, TWO), now=NOW + timedelta(minutes=15))
    later = emp_changes(baseline(ONE, at=NOW), keys(ONE, TWO), now=NOW + timedelta(minutes=15))
    assert [e.event_id for e in first] == [e.event_id for e in retried]
    assert first[0].event_id != later[0].event_id  # added again after a removal: a new event


def test_expiry_window_includes_its_last_day_and_expired_certificates() -> None:
    in_window = make_certificate("29 days", not_after=NOW + timedelta(days=30, seconds=-1))
    outside = make_certificate("31 days", not_after=NOW + timedelta(days=31))
    expired = make_certificate("expired", not_after=NOW - timedelta(days=1))
    emps = [emp("FI", "https://fi.example", in_window, outside), emp("SE", "https://se.example", expired)]
    events = expiring_certificates(emps, now=NOW, warning_days=30)
    assert [(e.emp.country, e.certificate.days_left if e.certificate else None) for e in events] == [
        ("FI", 29),
        ("SE", -1),
    ]
    assert expiring_certificates(emps, now=NOW, warning_days=28) == [events[1]]
    assert events[0].event_id != expiring_certificates(emps, now=NOW + timedelta(days=1), warning_days=30)[0].event_id


def test_hostile_registry_values_are_clipped_in_events() -> None:
    hostile = replace(ONE, name="Evil\x1b[31m EMP\u202e" + "x" * 500)
    detail = emp_changes(baseline(), keys(hostile), now=NOW)[0].detail()
    assert "\x1b" not in detail["emp"]["name"] and "\u202e" not in detail["emp"]["name"]
    assert len(detail["emp"]["name"]) <= 200


def test_the_baseline_survives_its_json() -> None:
    stored = baseline(ONE, TWO)
    assert RegistryBaseline.from_json(stored.to_json()) == stored


def test_the_parser_counts_what_it_could_not_read() -> None:
    good = render_ewp_catalogue([ONE])
    assert parse_ewp_catalogue(good).unread == 0
    unreadable_cert = good.replace(base64.b64encode(CERT_A)[:40], b"!!!!not-base64!!!!")
    broken = render_ewp_catalogue([ONE, replace(TWO, certificates=(CERT_B, CERT_A))]).replace(
        base64.b64encode(CERT_A), b"AAAA"
    )
    assert parse_ewp_catalogue(unreadable_cert).unread == 2  # ONE's only certificate, so its entry too
    parsed = parse_ewp_catalogue(broken)
    assert [e.id for e in parsed.emps] == [TWO.id]
    assert parsed.unread == 3  # ONE's certificate and entry, TWO's second certificate
