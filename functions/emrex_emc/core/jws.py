"""RS256 signatures of EMREX 2.0 on ``cryptography`` (pure): the EMP's detached JWS, our public JWKs.

* :func:`verify_detached_jws`: the EMP's ``X-Signature`` over the results body, a JWS with a detached
  payload (RFC 7515 appendix F): ``BASE64URL(header) ".." BASE64URL(signature)``, verified over
  ``BASE64URL(header) "." BASE64URL(body)``. Only ``alg`` ``RS256``; ``b64`` other than true, any ``crit``,
  an attached payload, duplicate header members and keys under 2048 bits are refused.
* :func:`rsa_jwk`: a public key as a JWK for ``/.well-known/jwks.json``.

Every refusal is ``EmrexError`` with a ``JWS_*`` code and a message that quotes nothing unbounded.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_der_public_key

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.jose import RS256, b64url, b64url_decode
from emrex_emc.core.json_input import parse_json
from emrex_emc.core.signature_facts import JwsFacts
from emrex_emc.core.text import clip

MIN_RSA_BITS = 2048
MAX_JWS_CHARS = 16 * 1024
"""Longest ``X-Signature`` value: an RS256 signature of a 4096-bit key is 683 characters, a header far less."""
MAX_HEADER_BYTES = 4 * 1024
_CHUNK = 3 * 64 * 1024
"""Body bytes base64url-encoded at a time: a multiple of 3, so the chunks' encodings simply concatenate."""


def _malformed(message: str) -> EmrexError:
    return EmrexError(ErrorCode.JWS_MALFORMED, message)


def rsa_public_key(der: bytes) -> rsa.RSAPublicKey:
    """An RSA public key of at least :data:`MIN_RSA_BITS` from DER SubjectPublicKeyInfo; ValueError otherwise."""
    key = load_der_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(f"an RSA key of {key.key_size} bits, fewer than {MIN_RSA_BITS}")
    return key


def verify_detached_jws(jws: str | None, body: bytes, public_key_der: bytes) -> JwsFacts:
    """Verify the detached JWS ``jws`` over ``body`` with the EMP's key; the facts, or EmrexError ``JWS_*``."""
    if not jws or not jws.strip():
        raise EmrexError(ErrorCode.JWS_MISSING, "the results carry no X-Signature (a detached JWS is required)")
    jws = jws.strip()
    if len(jws) > MAX_JWS_CHARS or not jws.isascii():
        raise _malformed(f"the X-Signature is not a JWS of at most {MAX_JWS_CHARS} ASCII characters")
    parts = jws.split(".")
    if len(parts) != 3:
        raise _malformed(f"the X-Signature has {len(parts)} parts, a JWS has 3 (header..signature)")
    header_part, payload_part, signature_part = parts
    if payload_part:
        raise _malformed("the X-Signature carries its payload; a detached JWS (header..signature) is required")
    header = _header(header_part)
    signature = b64url_decode(signature_part, "JWS signature")
    try:
        key = rsa_public_key(public_key_der)
    except ValueError as exc:
        raise EmrexError(ErrorCode.JWS_INVALID, f"the EMP's registered key cannot verify RS256 ({exc})") from None
    if len(signature) != (key.key_size + 7) // 8:
        raise EmrexError(ErrorCode.JWS_INVALID, "the JWS signature has the wrong length for the EMP's key")
    digest = _signing_input_digest(header_part, body)
    try:
        key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise EmrexError(
            ErrorCode.JWS_INVALID, "the X-Signature does not verify the results body with the EMP's registered key"
        ) from None
    kid = header.get("kid")
    return JwsFacts(
        algorithm=RS256,
        public_key_sha256=hashlib.sha256(public_key_der).hexdigest(),
        key_id=clip(kid, 100) if isinstance(kid, str) else None,
    )


def _header(part: str) -> Mapping[str, Any]:
    raw = b64url_decode(part, "JWS header")
    if len(raw) > MAX_HEADER_BYTES:
        raise _malformed(f"the JWS header is larger than {MAX_HEADER_BYTES} bytes")
    try:
        header = parse_json(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _malformed(f"the JWS header is not a JSON object ({clip(exc, 100)})") from None
    if not isinstance(header, dict):
        raise _malformed("the JWS header is not a JSON object")
    algorithm = header.get("alg")
    if algorithm != RS256:
        shown = clip(algorithm, 40) if isinstance(algorithm, str) else type(algorithm).__name__
        raise EmrexError(ErrorCode.JWS_ALGORITHM_FORBIDDEN, f"the JWS algorithm is {shown!r}; only RS256 is accepted")
    if header.get("b64", True) is not True:
        raise _malformed("the JWS uses an unencoded payload (b64: false), which EMREX 2.0 results do not")
    if "crit" in header:
        raise _malformed("the JWS header lists critical extensions ('crit'), none of which are understood")
    return header


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"member {clip(name, 40)!r} appears twice")
        result[name] = value
    return result


def _signing_input_digest(header_part: str, body: bytes) -> bytes:
    """SHA-256 of ``header "." BASE64URL(body)`` without building the (4/3 larger) encoded body at once."""
    digest = hashlib.sha256(header_part.encode("ascii") + b".")
    view = memoryview(body)
    for start in range(0, len(body), _CHUNK):
        digest.update(base64.urlsafe_b64encode(view[start : start + _CHUNK]).rstrip(b"="))
    return digest.digest()


def public_key_der(data: bytes) -> bytes:
    """DER SubjectPublicKeyInfo of an RSA key (2048+ bits) given as a PEM public key, a PEM certificate or DER.

    Raises ValueError for anything else (the ``publicKey`` of an EMREG v2 entry is a PEM public key).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

    text = data.strip()
    key: object
    try:
        if text.startswith(b"-----BEGIN CERTIFICATE-----"):
            key = x509.load_pem_x509_certificate(text).public_key()
        elif text.startswith(b"-----BEGIN"):
            key = load_pem_public_key(text)
        else:
            key = load_der_public_key(text)
    except UnsupportedAlgorithm:  # a key type cryptography does not know: not a ValueError
        raise ValueError("a key of an algorithm we do not support") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    rsa_public_key(der)
    return der


def rsa_jwk(public_key_der: bytes, kid: str) -> dict[str, str]:
    """The public JWK (RFC 7517/7518) of an RSA key for RS256 signatures."""
    numbers = rsa_public_key(public_key_der).public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": RS256,
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }
