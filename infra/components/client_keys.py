"""Our EMREX 2.0 signing keys: asymmetric KMS keys (RSA 2048, SIGN_VERIFY), one per ``kid`` in
``emrex:clientKeys``. The private keys never leave KMS; the first key signs client assertions (only the
callback may ``kms:Sign``, and only with it), the public part of every key is published by start_session
(``kms:GetPublicKey``). A rollover lists two kids (docs/EMREX2.md)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import EmrexConfig


class ClientKeys(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: EmrexConfig) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.keys: dict[str, kms.Key] = {
            kid: kms.Key(
                self,
                f"Key-{kid}",
                description=f"EMREX EMC: EMREX 2.0 client assertion signing key {kid} (RS256)",
                key_spec=kms.KeySpec.RSA_2048,
                key_usage=kms.KeyUsage.SIGN_VERIFY,
                pending_window=Duration.days(30),
                removal_policy=removal,
            )
            for kid in config.client_keys
        }

    @property
    def signing_key(self) -> kms.Key:
        return next(iter(self.keys.values()))

    @property
    def environment(self) -> str:
        """``EMREX_CLIENT_KEYS``: ``kid=key ARN`` pairs, the signing key first."""
        return ",".join(f"{kid}={key.key_arn}" for kid, key in self.keys.items())
