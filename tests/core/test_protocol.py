import re

import pytest

from emrex_emc.core.protocol import (
    ReturnCode,
    Status,
    is_valid_transfer_id,
    new_session_id,
    new_transfer_id,
    parse_return_code,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NCP_OK", ReturnCode.OK),
        ("EMP_OK", ReturnCode.OK),
        ("ncp_error", ReturnCode.ERROR),
        ("Emp_Error", ReturnCode.ERROR),
        ("NCP_NO_RESULTS", ReturnCode.NO_RESULTS),
        ("emp_no_results", ReturnCode.NO_RESULTS),
        ("NCP_CANCEL", ReturnCode.CANCEL),
        ("  EMP_CANCEL\n", ReturnCode.CANCEL),
    ],
)
def test_known_return_codes_with_either_prefix(raw: str, expected: ReturnCode) -> None:
    assert parse_return_code(raw) is expected


@pytest.mark.parametrize(
    "raw",
    [None, "", "OK", "NCP_", "NCP", "XYZ_OK", "NCP_UNKNOWN", "SOMETHING_ELSE", "NCP OK", "NCP_OK_X", "NCP__OK"],
)
def test_anything_else_is_unknown(raw: str | None) -> None:
    assert parse_return_code(raw) is ReturnCode.UNKNOWN


def test_status_values_match_the_stored_strings() -> None:
    assert [s.value for s in Status] == [
        "pending",
        "received",
        "rejected",
        "cancelled",
        "no_results",
        "provider_error",
        "expired",
    ]


def test_session_ids_are_32_alphanumerics_and_unique() -> None:
    ids = {new_session_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", value) for value in ids)
    # the whole alphabet is used (upper, lower and digits), not just hex
    joined = "".join(ids)
    assert re.search(r"[A-Z]", joined) and re.search(r"[g-z]", joined)


def test_transfer_ids_are_32_hex() -> None:
    ids = {new_transfer_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert all(is_valid_transfer_id(value) for value in ids)
    assert not is_valid_transfer_id("A" * 32)
    assert not is_valid_transfer_id("a" * 31)
