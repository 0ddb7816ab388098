"""Fixtures of the trust-pipeline tests: real data paths, signing identities, signed test documents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from emrex_emc.local.elmo_factory import SigningIdentity, build_elmo, generate_signing_identity, sign_elmo

SHARED_ELMO = Path(__file__).resolve().parents[2].parent / "shared" / "elmo"
VECTORS = SHARED_ELMO / "test-vectors"
BIRTH_DATE = dt.date(2001, 2, 3)


@pytest.fixture(scope="session")
def emp_identity() -> SigningIdentity:
    return generate_signing_identity("Test EMP")


@pytest.fixture(scope="session")
def other_identity() -> SigningIdentity:
    return generate_signing_identity("Attacker")


@pytest.fixture(scope="session")
def unsigned_xml() -> bytes:
    return build_elmo(given_names="Anna Maria", family_name="de Vries", birth_date=BIRTH_DATE, courses=3, grade="8")


@pytest.fixture(scope="session")
def signed_xml(unsigned_xml: bytes, emp_identity: SigningIdentity) -> bytes:
    return sign_elmo(unsigned_xml, emp_identity, style="java-sha1-inclusive")


@pytest.fixture(scope="session")
def signed_sha256(unsigned_xml: bytes, emp_identity: SigningIdentity) -> bytes:
    return sign_elmo(unsigned_xml, emp_identity, style="ds-sha256-exclusive")


def identity_with_subject(common_name: str) -> SigningIdentity:
    """A signing identity whose certificate's CN is ``common_name`` as given (any length, any characters)."""
    return generate_signing_identity(common_name, not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
