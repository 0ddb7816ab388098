"""Our EMREX 2.0 identity, published: the EMREG client record and the JWK Set of our signing keys.

EMPs verify our client assertions with the key EMREG holds for our ``clientId``; these documents are what an
operator registers (``emreg-client.json``, EMREG.md's EMC record) and what a key rollover publishes ahead of
time (``jwks.json`` lists the next key beside the one that signs). Both are public and cacheable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from emrex_emc.core.emrex2 import ClientIdentity
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.jws import rsa_jwk
from emrex_emc.web.http import HttpResponse, json_response
from emrex_emc.web.routes import EMREG_CLIENT

CACHE_SECONDS = 300
PublicKeys = Callable[[], Sequence[tuple[str, bytes]]]
"""``(kid, DER SubjectPublicKeyInfo)`` of our signing keys, the signing key first (read from KMS when called)."""


def well_known_response(route_key: str, client: ClientIdentity | None, public_keys: PublicKeys | None) -> HttpResponse:
    """The record needs the whole identity (client id, base URL, keys); the JWKS only the keys, so they can be
    published before the registration. NOT_FOUND where EMREX 2.0 is not configured."""
    if public_keys is None or (client is None and route_key == EMREG_CLIENT.key):
        raise EmrexError(ErrorCode.NOT_FOUND, "EMREX 2.0 is not configured here (EMREX_CLIENT_ID, base URL, keys)")
    if client is not None and route_key == EMREG_CLIENT.key:
        return emreg_client_response(client, public_keys())
    return jwks_response(public_keys())


def emreg_client_response(client: ClientIdentity, public_keys: Sequence[tuple[str, bytes]]) -> HttpResponse:
    """``clientId``, ``redirectUri``, ``name``, ``country`` and ``publicKey`` (PEM) of the key that signs."""
    _kid, signing_key = public_keys[0]
    pem = load_der_public_key(signing_key).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    record = {
        "clientId": client.client_id,
        "redirectUri": client.redirect_uri,
        "name": client.name,
        "country": client.country or None,
        "publicKey": pem.decode("ascii"),
    }
    return _public(json_response(200, record))


def jwks_response(public_keys: Sequence[tuple[str, bytes]]) -> HttpResponse:
    return _public(json_response(200, {"keys": [rsa_jwk(der, kid) for kid, der in public_keys]}))


def _public(response: HttpResponse) -> HttpResponse:
    response.headers["cache-control"] = f"public, max-age={CACHE_SECONDS}"
    response.headers["access-control-allow-origin"] = "*"
    return response
