"""Our EMREX 2.0 signing keys in KMS (asymmetric, SIGN_VERIFY, RSA 2048): the private keys never leave KMS.

The first configured key signs client assertions (``kms:Sign``, ``MessageType=RAW``: KMS hashes the signing
input itself, the same in real KMS and moto, see aws-notes.md §7); every configured key's public part
(``kms:GetPublicKey``, DER SubjectPublicKeyInfo) is published. Public keys are read once per process: a
KMS key's public key never changes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emrex_emc.core.errors import EmrexError, ErrorCode

SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
"""JWS ``RS256``."""


class KmsClientKeys:
    """``keys``: ``(kid, KMS key id or ARN)``, the signing key first; none configured: nothing can be signed."""

    def __init__(self, kms_client: Any, keys: Sequence[tuple[str, str]]) -> None:
        self._kms = kms_client
        self._keys = tuple(keys)
        self._public: tuple[tuple[str, bytes], ...] | None = None
        self._lock = threading.Lock()

    @property
    def signing_key_id(self) -> str:
        """The ``kid`` of the key that signs (the header of every client assertion names it)."""
        return self._keys[0][0] if self._keys else ""

    def sign(self, message: bytes) -> bytes:
        """RS256 signature of ``message`` with the first key; CLIENT_KEY_UNAVAILABLE when KMS cannot sign."""
        if not self._keys:
            raise EmrexError(ErrorCode.CLIENT_KEY_UNAVAILABLE, "no EMREX 2.0 signing key is configured")
        try:
            response = self._kms.sign(
                KeyId=self._keys[0][1], Message=message, MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM
            )
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from None
        signature: bytes = response["Signature"]
        return signature

    def public_keys(self) -> tuple[tuple[str, bytes], ...]:
        """``(kid, DER SubjectPublicKeyInfo)`` of every configured key, signing key first."""
        with self._lock:
            if self._public is None:
                self._public = tuple((kid, self._public_key(key)) for kid, key in self._keys)
            return self._public

    def _public_key(self, key: str) -> bytes:
        try:
            der: bytes = self._kms.get_public_key(KeyId=key)["PublicKey"]
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from None
        return der


def _unavailable(exc: Exception) -> EmrexError:
    return EmrexError(ErrorCode.CLIENT_KEY_UNAVAILABLE, f"the EMC's signing key cannot be used ({type(exc).__name__})")
