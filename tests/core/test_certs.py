"""Loading EMP certificates from the registry (DER), PEM files and bare base64."""

from __future__ import annotations

import base64

import pytest

from emrex_emc.core import certs
from emrex_emc.core.errors import EmrexError, ErrorCode
from tests.adapters.conftest import make_certificate, to_pem

_ASCII_WHITESPACE = b" \t\n\r\x0b\x0c"


def _der_ending_in_whitespace() -> bytes:
    """A real DER certificate whose last byte is ASCII whitespace (about 1 in 43 random signatures)."""
    for _ in range(2000):
        der = make_certificate("whitespace at the end")
        if der[-1:] in [bytes([b]) for b in _ASCII_WHITESPACE]:
            return der
    raise AssertionError("no certificate ending in whitespace was generated")


def test_der_is_never_stripped() -> None:
    """Regression: stripping binary DER cut certificates whose signature ends in 0x0a/0x20/... ."""
    der = _der_ending_in_whitespace()
    (loaded,) = certs.load_certificates(der)
    assert certs.sha256_fingerprint(loaded) == certs.sha256_fingerprint(
        certs.load_certificates(to_pem(der).encode())[0]
    )


def test_pem_bare_base64_and_several_pems() -> None:
    der = make_certificate("one")
    other = make_certificate("two")
    assert len(certs.load_certificates(b"\n" + to_pem(der).encode() + b"\n" + to_pem(other).encode())) == 2
    (from_base64,) = certs.load_certificates(b"  " + base64.encodebytes(der) + b"\n")
    assert certs.sha256_fingerprint(from_base64) == certs.sha256_fingerprint(certs.load_certificates(der)[0])


@pytest.mark.parametrize("data", [b"", b"   \n", b"not a certificate", b"\x30\x03abc"])
def test_garbage_is_certificate_invalid(data: bytes) -> None:
    with pytest.raises(EmrexError) as caught:
        certs.load_certificates(data)
    assert caught.value.code is ErrorCode.CERTIFICATE_INVALID
