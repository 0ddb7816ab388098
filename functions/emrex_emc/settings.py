"""The one settings model of the EMC, read and validated once at cold start.

Every Lambda and the local runner build a :class:`Settings` from the environment with
:func:`Settings.from_env`; no Lambda code reads ``os.environ`` elsewhere (the operator CLI reads a
default registry URL itself, as it needs no table or bucket). Invalid configuration fails the cold
start loudly with the name of the offending variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from emrex_emc.core.policy import DecodeLimits, PipelinePolicy, VerificationPolicy


class SettingsError(ValueError):
    """Raised when the environment does not describe a valid configuration."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _url_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    items = tuple(part.strip() for part in raw.replace("\n", ",").split(",") if part.strip())
    for item in items:
        parts = urlsplit(item)
        if parts.scheme not in {"https", "http"} or not parts.netloc:
            raise SettingsError(f"{name}: {item!r} is not an absolute http(s) URL")
    return items


@dataclass(frozen=True)
class Settings:
    table_name: str
    bucket_name: str
    event_bus_name: str
    secret_name: str
    """Secrets Manager secret holding the state-signing keys and the enrolment API token."""
    secret_max_age_seconds: int = 300
    """How long a warm instance uses the secret it read before reading it again (rotation reaches every
    instance within this time; a state under a key id not yet seen triggers an early, rate-limited read)."""
    registry_url: str = ""
    registry_max_age_seconds: int = 24 * 3600
    allowed_return_urls: tuple[str, ...] = ()
    """Prefixes a ``return_url`` must start with (scheme, host and path prefix)."""
    local_mode: bool = False
    """Loopback return URLs are allowed and http is accepted for local URLs."""
    public_base_url: str = ""
    """Base URL of the API as students see it; empty means derive it from the request."""
    session_ttl_seconds: int = 1800
    retention_days: int = 365
    decode_limits: DecodeLimits = field(default_factory=DecodeLimits)
    verification: VerificationPolicy = field(default_factory=VerificationPolicy)
    max_body_bytes: int = 4 * 1024 * 1024
    """Callback form bodies above this get a 413 page. API Gateway base64-encodes form bodies, and a
    synchronous Lambda event may be 6 MB, so about 4.4 MB of body is the most that can reach us."""
    xsd_dir: str = ""
    """Folder with the official ELMO XSDs (see layers/); empty disables conformance warnings."""

    @property
    def pipeline_policy(self) -> PipelinePolicy:
        return PipelinePolicy(decode=self.decode_limits, signature=self.verification)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [
            name
            for name in ("EMREX_TABLE_NAME", "EMREX_BUCKET_NAME", "EMREX_EVENT_BUS_NAME", "EMREX_SECRET_NAME")
            if not env.get(name)
        ]
        if missing:
            raise SettingsError("missing required environment variables: " + ", ".join(missing))
        public_base_url = env.get("EMREX_PUBLIC_BASE_URL", "").rstrip("/")
        if public_base_url and not urlsplit(public_base_url).netloc:
            raise SettingsError("EMREX_PUBLIC_BASE_URL must be an absolute URL")
        return cls(
            table_name=env["EMREX_TABLE_NAME"],
            bucket_name=env["EMREX_BUCKET_NAME"],
            event_bus_name=env["EMREX_EVENT_BUS_NAME"],
            secret_name=env["EMREX_SECRET_NAME"],
            secret_max_age_seconds=_int(env, "EMREX_SECRET_MAX_AGE_SECONDS", 300, minimum=1),
            registry_url=env.get("EMREX_REGISTRY_URL", ""),
            registry_max_age_seconds=_int(env, "EMREX_REGISTRY_MAX_AGE_SECONDS", 24 * 3600, minimum=60),
            allowed_return_urls=_url_list(env, "EMREX_ALLOWED_RETURN_URLS"),
            local_mode=_bool(env, "EMREX_LOCAL_MODE", False),
            public_base_url=public_base_url,
            session_ttl_seconds=_int(env, "EMREX_SESSION_TTL_SECONDS", 1800, minimum=60),
            retention_days=_int(env, "EMREX_RETENTION_DAYS", 365),
            decode_limits=DecodeLimits(
                max_encoded_bytes=_int(env, "EMREX_MAX_ENCODED_BYTES", DecodeLimits.max_encoded_bytes),
                max_decompressed_bytes=_int(env, "EMREX_MAX_DECOMPRESSED_BYTES", DecodeLimits.max_decompressed_bytes),
                max_compression_ratio=_int(env, "EMREX_MAX_COMPRESSION_RATIO", DecodeLimits.max_compression_ratio),
            ),
            verification=VerificationPolicy(
                forbid_sha1=_bool(env, "EMREX_FORBID_SHA1", False),
                strict_cert_validity=_bool(env, "EMREX_STRICT_CERT_VALIDITY", False),
            ),
            max_body_bytes=_int(env, "EMREX_MAX_BODY_BYTES", 4 * 1024 * 1024),
            xsd_dir=env.get("EMREX_XSD_DIR", ""),
        )
