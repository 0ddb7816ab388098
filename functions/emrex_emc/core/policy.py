"""Limits and verification policy of the trust pipeline (pure values, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecodeLimits:
    """Caps enforced while decoding the `elmo` form value (all in bytes, ratio is a factor)."""

    max_encoded_bytes: int = 8 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024
    max_compression_ratio: int = 100


@dataclass(frozen=True)
class XmlLimits:
    """Caps on the parsed tree (a billion-laughs style tree must never be built)."""

    max_depth: int = 64
    max_elements: int = 500_000


@dataclass(frozen=True)
class VerificationPolicy:
    """What the signature check accepts."""

    forbid_sha1: bool = False
    strict_cert_validity: bool = False


@dataclass(frozen=True)
class PipelinePolicy:
    """Every limit and rule the trust pipeline applies."""

    decode: DecodeLimits = DecodeLimits()
    xml: XmlLimits = XmlLimits()
    signature: VerificationPolicy = VerificationPolicy()
