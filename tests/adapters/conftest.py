"""Test certificates for the registry tests (made with ``cryptography``; no files, no private keys kept)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from emrex_emc.local.moto_env import create_table

ADAPTER_TABLE = "adapters-test"


def make_certificate(
    common_name: str, *, not_after: datetime | None = None, dns_names: Sequence[str] = (), padding: int = 0
) -> bytes:
    """A self-signed EC certificate (DER) for ``common_name``, valid for a year unless ``not_after`` is given;
    ``dns_names`` become a subject alternative name extension (tests use many to make a large certificate);
    ``padding`` random bytes an unknown non-critical extension (a large certificate that does not compress)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    end = not_after or now + timedelta(days=365)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, end) - timedelta(days=30))
        .not_valid_after(end)
    )
    if dns_names:
        names = x509.SubjectAlternativeName([x509.DNSName(host) for host in dns_names])
        certificate = certificate.add_extension(names, critical=False)
    if padding:
        unknown = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
        certificate = certificate.add_extension(
            x509.UnrecognizedExtension(unknown, os.urandom(padding)), critical=False
        )
    return certificate.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def to_pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")


@pytest.fixture(scope="session")
def cert_der() -> bytes:
    return make_certificate("emp.example signing")


@pytest.fixture
def dynamodb(mocked_aws: None) -> Any:
    """A moto DynamoDB client with the EMC table (``ADAPTER_TABLE``) shaped as the stack declares it."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    create_table(client, ADAPTER_TABLE)
    return client
