"""Fixtures of the trust-pipeline tests: real data paths, signing identities, signed test documents."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

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
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with warnings.catch_warnings():  # cryptography warns about a CN over 64 characters, which is the point
        warnings.simplefilter("ignore", UserWarning)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name, _validate=False)])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningIdentity(key_pem=key_pem, cert_pem=cert.public_bytes(serialization.Encoding.PEM))
