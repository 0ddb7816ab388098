import hashlib
from dataclasses import replace
from typing import Any

import pytest

from emrex_emc.adapters.sessions import TransferTable, item_to_transfer, session_pk, transfer_to_item
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.outcome import Outcome, ResultSummary
from emrex_emc.core.protocol import Status, new_session_id, new_transfer_id
from emrex_emc.core.provenance import Coverage
from emrex_emc.core.registry import CoveredInstitution, Emp, emp_id
from emrex_emc.core.transfer import EmpRef, Transfer
from tests.adapters.conftest import ADAPTER_TABLE

NOW = 1_800_000_000
TABLE = ADAPTER_TABLE
EMP = Emp(
    id=emp_id("SE", "https://emp.example.se/"),
    name="Ladok EMP",
    url="https://emp.example.se/",
    country="SE",
    certificates=(b"cert-a", b"cert-b"),
)


def _transfer(**changes: Any) -> Transfer:
    base = Transfer(
        id=new_transfer_id(),
        applicant_id="A-7",
        given_names="Anna Maria",
        family_name="Svensson",
        birth_date="1999-12-31",
        return_url="https://uni.example/back",
        locale="nl",
        status=Status.PENDING,
        created_at="2027-01-15T08:00:00+00:00",
        deadline=NOW + 1800,
        expires_at=NOW + 1800 + 86400,
    )
    return replace(base, **changes)


@pytest.fixture
def repo(dynamodb: Any) -> TransferTable:
    return TransferTable(dynamodb, TABLE)


def test_item_round_trip_including_outcome_numbers() -> None:
    transfer = _transfer(
        start_used=True,
        emrex_session_id=new_session_id(),
        emp=EmpRef.of(EMP),
        pinned_certs=(b"\x00\x01", b"\xff"),
        status=Status.RECEIVED,
        outcome=Outcome(
            Status.RECEIVED,
            "2027-01-15T08:05:00Z",
            "NCP_OK",
            "0" * 64,
            "e-1",
            summary=ResultSummary(issuers=(), course_count=12, total_ects="37.5", report_count=1, attachment_count=0),
        ),
    )
    item = transfer_to_item(transfer)
    assert item["pk"] == {"S": session_pk(transfer.id)}
    assert item["deadline"] == {"N": str(NOW + 1800)}
    assert item["pinned_certs"] == {"L": [{"S": "AAE="}, {"S": "/w=="}]}
    assert item["cert_fingerprints"] == {"L": [{"S": hashlib.sha256(der).hexdigest()} for der in transfer.pinned_certs]}
    back = item_to_transfer(item)
    assert back == transfer
    assert back.outcome is not None and back.outcome.summary is not None
    assert type(back.outcome.summary.course_count) is int


def test_none_attributes_are_left_out() -> None:
    item = transfer_to_item(_transfer())
    assert "emp" not in item and "outcome" not in item and "emrex_session_id" not in item


def test_repr_has_no_personal_data() -> None:
    text = repr(_transfer())
    assert "Svensson" not in text and "1999" not in text and "A-7" not in text


def test_effective_status() -> None:
    pending = _transfer()
    assert pending.effective_status(NOW) is Status.PENDING
    assert pending.effective_status(NOW + 1800) is Status.EXPIRED
    received = _transfer(status=Status.RECEIVED)
    assert received.effective_status(NOW + 99999) is Status.RECEIVED


def test_create_and_get(repo: TransferTable) -> None:
    transfer = _transfer()
    repo.create(transfer)
    assert repo.get(transfer.id) == transfer
    assert repo.get(new_transfer_id()) is None


def test_create_never_overwrites(repo: TransferTable, dynamodb: Any) -> None:
    transfer = _transfer()
    repo.create(transfer)
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        repo.create(replace(transfer, applicant_id="other"))
    stored = repo.get(transfer.id)
    assert stored is not None and stored.applicant_id == "A-7"


def test_choose_emp_pins_certificates(repo: TransferTable) -> None:
    transfer = _transfer()
    repo.create(transfer)
    session_id = new_session_id()
    chosen = repo.choose_emp(transfer.id, emp=EMP, session_id=session_id, now=NOW)
    assert chosen.start_used is True
    assert chosen.emrex_session_id == session_id
    assert chosen.emp == EmpRef(EMP.id, "Ladok EMP", "SE", EMP.url)
    assert chosen.pinned_certs == (b"cert-a", b"cert-b")
    assert chosen.cert_fingerprints == EMP.certificate_fingerprints()
    assert repo.get(transfer.id) == chosen
    assert chosen.status is Status.PENDING


def test_choose_emp_pins_the_coverage_provenance_needs(repo: TransferTable) -> None:
    lund = CoveredInstitution(hei_id="lu.se", other_ids=(("erasmus", "S  LUND01"), ("pic", "999")))
    coverage = Coverage(country="SE", covered=(lund,), elsewhere={"schac:uio.no": "uio.no"})
    transfer = _transfer()
    repo.create(transfer)
    chosen = repo.choose_emp(transfer.id, emp=EMP, session_id=new_session_id(), now=NOW, coverage=coverage)
    assert chosen.pinned_coverage == coverage
    assert repo.get(transfer.id) == chosen
    other = _transfer()
    repo.create(other)
    assert repo.choose_emp(other.id, emp=EMP, session_id=new_session_id(), now=NOW).pinned_coverage is None


def test_choose_emp_only_once(repo: TransferTable) -> None:
    transfer = _transfer()
    repo.create(transfer)
    first = new_session_id()
    repo.choose_emp(transfer.id, emp=EMP, session_id=first, now=NOW)
    with pytest.raises(EmrexError) as info:
        repo.choose_emp(transfer.id, emp=EMP, session_id=new_session_id(), now=NOW + 1)
    assert info.value.code is ErrorCode.START_LINK_USED
    stored = repo.get(transfer.id)
    assert stored is not None and stored.emrex_session_id == first


def test_choose_emp_after_deadline(repo: TransferTable) -> None:
    transfer = _transfer()
    repo.create(transfer)
    with pytest.raises(EmrexError) as info:
        repo.choose_emp(transfer.id, emp=EMP, session_id=new_session_id(), now=transfer.deadline)
    assert info.value.code is ErrorCode.SESSION_EXPIRED
    stored = repo.get(transfer.id)
    assert stored is not None and stored.start_used is False and stored.emp is None


def test_choose_emp_on_completed_transfer(repo: TransferTable) -> None:
    transfer = _transfer(status=Status.CANCELLED)
    repo.create(transfer)
    with pytest.raises(EmrexError) as info:
        repo.choose_emp(transfer.id, emp=EMP, session_id=new_session_id(), now=NOW)
    assert info.value.code is ErrorCode.START_LINK_USED


def test_choose_emp_unknown_transfer_creates_nothing(repo: TransferTable) -> None:
    missing = new_transfer_id()
    with pytest.raises(EmrexError) as info:
        repo.choose_emp(missing, emp=EMP, session_id=new_session_id(), now=NOW)
    assert info.value.code is ErrorCode.SESSION_NOT_FOUND
    assert repo.get(missing) is None
