"""EMREX 2.0 EMREG (v2) lists: both key styles, detection by content, keys, scheduled entries, hostile entries."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from emrex_emc.core import registry_emreg, registry_entries
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.registry import Emp, Emrex2Endpoints, emp_id, url_origin
from emrex_emc.core.registry_emreg import parse_emreg2_json, render_emreg2_list
from emrex_emc.core.registry_entries import NOTICE_CONFLICT, NOTICE_DUPLICATE, NOTICE_ENTRY_SKIPPED
from emrex_emc.core.registry_parse import parse_registry
from emrex_emc.core.text import is_clean
from tests.adapters.conftest import make_certificate, to_pem

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SPKI_DER = RSA_KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
SPKI_PEM = RSA_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def camel(**changes: Any) -> dict[str, Any]:
    """An EMP record as EMREG.md writes it."""
    record: dict[str, Any] = {
        "name": "DUO (Dienst Uitvoering Onderwijs)",
        "adminEmail": "admin@duo.example",
        "website": "https://www.duo.example",
        "publicKey": SPKI_PEM,
        "emreg2Props": {
            "supportedDataFormats": [{"name": "elmo", "version": "2.1"}],
            "authorizationUrl": "https://emp.duo.example/oauth2/authorize",
            "tokenUrl": "https://emp.duo.example/oauth2/token",
            "resourceUrl": "https://emp.duo.example/results",
            "requiredTrustLevel": "substantial",
            "pingUrl": "https://emp.duo.example/ping",
        },
        "institutions": [{"name": "University of Amsterdam"}, {"name": "TU Delft"}],
        "country": {"isoCode": "NL", "singleFetch": False},
    }
    record.update(changes)
    return record


def snake(**changes: Any) -> dict[str, Any]:
    """An EMP record as the draft's README writes it."""
    record: dict[str, Any] = {
        "acronym": "DUO-NL",
        "country": "NL",
        "institutions": ["University of Amsterdam", "TU Delft"],
        "authorization_url": "https://emp.nl.example/oauth2/authorize",
        "token_url": "https://emp.nl.example/oauth2/token",
        "resource_url": "https://emp.nl.example/results",
        "public_key": SPKI_PEM,
    }
    record.update(changes)
    return record


def listing(*records: dict[str, Any], bare: bool = False) -> bytes:
    return json.dumps(list(records) if bare else {"emp_list": list(records)}).encode()


def only(data: bytes) -> Emp:
    parsed = parse_registry(data)
    assert parsed.source == "emreg2"
    (emp,) = parsed.emps
    return emp


def test_camel_case_record() -> None:
    emp = only(listing(camel()))
    assert emp.protocol is ProtocolVersion.EMREX_2
    assert (emp.name, emp.country, emp.institutions) == (
        "DUO (Dienst Uitvoering Onderwijs)",
        "NL",
        ("University of Amsterdam", "TU Delft"),
    )
    assert emp.emrex2 == Emrex2Endpoints(
        authorization_url="https://emp.duo.example/oauth2/authorize",
        token_url="https://emp.duo.example/oauth2/token",
        resource_url="https://emp.duo.example/results",
        ping_url="https://emp.duo.example/ping",
        data_formats=("elmo-2.1",),
    )
    assert emp.url == "https://emp.duo.example/oauth2/authorize"
    assert emp.public_key == SPKI_DER and emp.public_key_sha256 == hashlib.sha256(SPKI_DER).hexdigest()
    assert emp.certificates == () and emp.active_from is None and emp.source == "emreg2"


def test_snake_case_record_in_a_bare_array() -> None:
    emp = only(listing(snake(), bare=True))
    assert (emp.name, emp.country, emp.institutions) == ("DUO-NL", "NL", ("University of Amsterdam", "TU Delft"))
    assert emp.emrex2 is not None and emp.emrex2.token_url == "https://emp.nl.example/oauth2/token"
    assert emp.emrex2.resource_url == "https://emp.nl.example/results" and emp.emrex2.ping_url is None


def test_the_id_derives_from_the_authorization_url_origin() -> None:
    first = only(listing(camel()))
    moved_paths = camel(
        emreg2Props={
            "authorizationUrl": "https://EMP.duo.example:443/other/authorize?x=1",
            "tokenUrl": "https://emp.duo.example/t",
            "resourceUrl": "https://emp.duo.example/r",
        }
    )
    assert first.id == only(listing(moved_paths)).id == emp_id("NL", "https://emp.duo.example")
    assert url_origin("http://127.0.0.1:8123/oauth/authorize") == "http://127.0.0.1:8123"
    other_port = camel(
        emreg2Props={
            "authorizationUrl": "https://emp.duo.example:8443/authorize",
            "tokenUrl": "https://emp.duo.example/t",
            "resourceUrl": "https://emp.duo.example/r",
        }
    )
    assert only(listing(other_port)).id != first.id


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b'{"emps": [], "countries": []}', "emreg"),
        (b'{"ncps": []}', "emreg"),
        (b'{"emp_list": []}', "emreg2"),
        (b"[]", "emreg2"),
    ],
)
def test_the_format_is_told_by_the_content(document: bytes, expected: str) -> None:
    assert parse_registry(document).source == expected


def test_a_v2_object_without_emp_list_is_refused() -> None:
    with pytest.raises(EmrexError) as caught:
        parse_emreg2_json(b'{"emps": []}')
    assert caught.value.code is ErrorCode.REGISTRY_INVALID


@pytest.mark.parametrize("document", [b"[" * 100_000 + b"]" * 100_000, b'{"emp_list": ' + b"[" * 100_000])
def test_json_nested_deeper_than_the_parser_can_go_is_refused(document: bytes) -> None:
    with pytest.raises(EmrexError) as caught:
        parse_registry(document)
    assert caught.value.code is ErrorCode.REGISTRY_INVALID and "not valid JSON" in caught.value.message


UNKNOWN_ALGORITHM_KEY_PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    + base64.b64encode(bytes.fromhex("300e300506032a0304030500deadbeef")).decode()
    + "\n-----END PUBLIC KEY-----\n"
)
"""A SubjectPublicKeyInfo whose algorithm is OID 1.2.3.4: cryptography raises UnsupportedAlgorithm, not ValueError."""


def test_a_key_of_an_unknown_algorithm_skips_only_its_entry() -> None:
    parsed = parse_emreg2_json(listing(camel(publicKey=UNKNOWN_ALGORITHM_KEY_PEM), snake(acronym="KEPT")))
    assert [emp.name for emp in parsed.emps] == ["KEPT"]
    (notice,) = parsed.notices
    assert notice.code == NOTICE_ENTRY_SKIPPED and "algorithm we do not support" in notice.message


def test_an_unforeseen_failure_in_one_entry_skips_only_that_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry_emreg.rsa_public_key_der

    def fails_for_one(text: str) -> bytes:
        if "FAILS" in text:
            raise KeyError("a bug or a library surprise")
        return real(text)

    monkeypatch.setattr(registry_emreg, "rsa_public_key_der", fails_for_one)
    parsed = parse_emreg2_json(listing(camel(publicKey="FAILS"), snake(acronym="KEPT")))
    assert [emp.name for emp in parsed.emps] == ["KEPT"]
    (notice,) = parsed.notices
    assert (
        notice.code == NOTICE_ENTRY_SKIPPED
        and notice.message == "EMREG v2 entry #1 could not be read (KeyError); skipped"
    )


def test_a_certificate_gives_its_public_key() -> None:
    assert only(listing(camel(publicKey=_rsa_certificate_pem()))).public_key == SPKI_DER
    parsed = parse_emreg2_json(listing(camel(publicKey=to_pem(make_certificate("ec")))))  # an EC certificate
    assert parsed.emps == () and "not an RSA key" in parsed.notices[0].message


def _rsa_certificate_pem() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emp")])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(RSA_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now.replace(year=now.year + 1))
    )
    return builder.sign(RSA_KEY, hashes.SHA256()).public_bytes(Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (camel(publicKey="not a key"), "not a PEM public key"),
        (
            camel(
                publicKey=ec.generate_private_key(ec.SECP256R1())
                .public_key()
                .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
                .decode()
            ),
            "not an RSA key",
        ),
        (
            camel(
                publicKey=rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
                .public_key()
                .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
                .decode()
            ),
            "1024 bits",
        ),
        (camel(publicKey="x" * 20_000), "characters"),
        (snake(token_url=None), "tokenUrl"),
        (snake(resource_url=""), "resourceUrl"),
        (snake(authorization_url="http://emp.nl.example/authorize"), "not an absolute https URL"),
        (snake(token_url="https://emp.nl.example/token#frag"), "fragment"),
        (snake(country="Netherlands"), "country code"),
        (snake(acronym=None), "'name'"),
        (camel(activeByDateTimeUtc="next tuesday"), "not ISO 8601"),
        (camel(activeByDateTimeUtc=12), "not a date-time"),
        ("just text", "not a JSON object"),
    ],
)
def test_unusable_records_are_skipped_with_a_notice(record: Any, reason: str) -> None:
    parsed = parse_emreg2_json(listing(record, snake(acronym="KEPT")))
    assert [emp.name for emp in parsed.emps] == ["KEPT"]
    (notice,) = parsed.notices
    assert notice.code == NOTICE_ENTRY_SKIPPED and reason in notice.message and is_clean(notice.message)


def test_loopback_http_only_in_local_mode() -> None:
    local = snake(
        authorization_url="http://127.0.0.1:9000/authorize",
        token_url="http://127.0.0.1:9000/token",
        resource_url="http://localhost:9000/results",
    )
    assert parse_emreg2_json(listing(local)).emps == ()
    (emp,) = parse_emreg2_json(listing(local), allow_loopback_http=True).emps
    assert emp.id == emp_id("NL", "http://127.0.0.1:9000")


def test_scheduled_entries_are_kept_beside_the_current_one() -> None:
    current = camel()
    scheduled = camel(activeByDateTimeUtc="2027-01-15T08:00:00Z", name="DUO renamed")
    naive = camel(activeByDateTimeUtc="2027-02-01T00:00:00", name="DUO later")
    parsed = parse_emreg2_json(listing(current, scheduled, naive, current))
    assert [(emp.name, emp.active_from) for emp in parsed.emps] == [
        ("DUO (Dienst Uitvoering Onderwijs)", None),
        ("DUO renamed", datetime(2027, 1, 15, 8, tzinfo=UTC)),
        ("DUO later", datetime(2027, 2, 1, tzinfo=UTC)),
    ]
    assert [notice.code for notice in parsed.notices] == ["REGISTRY_DUPLICATE_EMP"]


def test_one_emp_listed_twice_with_other_keys_is_not_offered_at_all() -> None:
    """Same authorization origin (the id) and activation, another key: whom to trust is contradictory."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    other_pem = other.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    for records in ([camel(), camel(publicKey=other_pem)], [camel(publicKey=other_pem), camel(), camel()]):
        parsed = parse_emreg2_json(listing(*records, snake(acronym="KEPT")))
        assert [emp.name for emp in parsed.emps] == ["KEPT"]
        assert [notice.code for notice in parsed.notices] == [NOTICE_CONFLICT]
        assert "different keys or endpoints" in parsed.notices[0].message and parsed.unread == 1
    moved = camel(emreg2Props={**camel()["emreg2Props"], "resourceUrl": "https://evil.example/results"})
    assert [emp.name for emp in parse_emreg2_json(listing(camel(), moved)).emps] == []


def test_one_emp_listed_twice_alike_is_kept_once() -> None:
    parsed = parse_emreg2_json(listing(camel(), camel()))
    assert len(parsed.emps) == 1 and [notice.code for notice in parsed.notices] == [NOTICE_DUPLICATE]
    assert parsed.unread == 0


def test_a_hostile_record_is_clipped() -> None:
    hostile = camel(name="\x1b[31mEvil" + "x" * 5000, institutions=[{"name": "Uni\u202e" + "y" * 900}, 7, {"x": 1}])
    emp = only(listing(hostile))
    assert len(emp.name) <= 200 and is_clean(emp.name)
    assert len(emp.institutions) == 1 and len(emp.institutions[0]) <= 200 and is_clean(emp.institutions[0])


def test_localized_names_and_string_formats_are_read() -> None:
    emp = only(
        listing(
            camel(
                name={"nl": "Universiteit", "en": "University"},
                emreg2Props={**camel()["emreg2Props"], "supportedDataFormats": ["elmo-1.5", "elmo-2.1", {"x": 1}]},
            )
        )
    )
    assert emp.name == "University"
    assert emp.emrex2 is not None and emp.emrex2.data_formats == ("elmo-1.5", "elmo-2.1")


def test_rendered_lists_parse_back() -> None:
    record = camel(activeByDateTimeUtc="2027-01-15T08:00:00Z", country={"isoCode": "NL", "singleFetch": True})
    emp = only(listing(record))
    assert only(render_emreg2_list([emp])) == emp
    assert Emp.from_json(emp.to_json()) == emp


def test_an_entry_too_large_without_its_institutions_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """An EMREX 2.0 entry has no certificates to trim: if its institutions were not enough, it is skipped."""
    kept, full = only(listing(camel(institutions=[]))), only(listing(camel()))
    monkeypatch.setattr(registry_entries, "MAX_ENTRY_BYTES", kept.stored_size() - 1)
    parsed = parse_emreg2_json(listing(camel(), snake(acronym="KEPT", institutions=[])))
    assert [emp.name for emp in parsed.emps] == ["KEPT"]
    (notice,) = parsed.notices
    assert notice.code == NOTICE_ENTRY_SKIPPED
    assert notice.message == (
        f"EMREG v2 entry #1 (DUO (Dienst Uitvoering Onderwijs) (NL)) takes {full.stored_size()} "
        f"bytes, more than the {kept.stored_size() - 1} of an entry, even trimmed; skipped"
    )
    monkeypatch.setattr(registry_entries, "MAX_ENTRY_BYTES", kept.stored_size())  # the inclusive limit: trimmed
    (trimmed,) = parse_emreg2_json(listing(camel())).emps
    assert trimmed == kept
