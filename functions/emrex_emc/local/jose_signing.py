"""The EMP's side of EMREX 2.0 JOSE, for the mock EMP and tests: signing detached JWS results and checking an
EMC's client assertion (RS256 JWT) the way a real EMP would. Never used by the deployed functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from emrex_emc.core.errors import EmrexError
from emrex_emc.core.jose import b64url, b64url_decode
from emrex_emc.core.json_input import parse_json


def detached_jws(body: bytes, key: rsa.RSAPrivateKey, *, header: Mapping[str, Any] | None = None) -> str:
    """RFC 7515 appendix F: ``BASE64URL(header) ".." BASE64URL(RS256 over header "." BASE64URL(body))``.

    ``header`` defaults to ``{"alg": "RS256"}``; tests pass others (a wrong ``alg``, ``b64: false``) signed the
    same way, so only the header is wrong.
    """
    encoded_header = b64url(json.dumps(header or {"alg": "RS256"}, separators=(",", ":")).encode("utf-8"))
    signing_input = f"{encoded_header}.{b64url(body)}".encode("ascii")
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{encoded_header}..{b64url(signature)}"


class AssertionRefused(ValueError):
    """Why an EMP refuses a client assertion (``invalid_client``)."""


def verified_jwt_claims(token: str, public_key_der: bytes) -> dict[str, Any]:
    """The claims of an RS256 JWT signed with the key of ``public_key_der``; AssertionRefused otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AssertionRefused("the client assertion is not a compact JWT")
    try:
        header = parse_json(b64url_decode(parts[0], "JWT header"))
        claims = parse_json(b64url_decode(parts[1], "JWT claims"))
        signature = b64url_decode(parts[2], "JWT signature")
    except (ValueError, EmrexError) as exc:
        raise AssertionRefused(f"the client assertion cannot be read ({exc})") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise AssertionRefused("the client assertion is not an RS256 JWT")
    key = load_der_public_key(public_key_der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise AssertionRefused("the registered key is not an RSA key")
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise AssertionRefused("the client assertion's signature does not verify with the registered key") from None
    return {"header": header, **claims}
