"""The settings of the EMC: every ``EMREX_*`` variable, its default and bounds, and which function reads it.

This module is the one place for defaults and limits: the functions read their settings here
(:meth:`Settings.from_env`, at the first request), and the CDK app (``infra/``) takes its defaults, bounds
and each function's environment from the same tables (:data:`VARIABLES`, :func:`variables_of`). A
function requires only the variables it uses; invalid configuration fails loudly, naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from emrex_emc.core.policy import DecodeLimits, PipelinePolicy, VerificationPolicy

FUNCTIONS = ("enrolment_api", "start_session", "callback", "outbox_relay", "registry_refresh", "secret_rotation")

DEFAULT_REGISTRY_URL = "https://dev-registry.erasmuswithoutpaper.eu/catalogue-v1.xml"
"""The EWP DEV registry: a new installation starts on the test network (docs/DEPLOY.md says when to switch)."""
SESSION_TTL = (1800, 60, 86400)
"""Default, minimum and maximum seconds a transfer may take."""
REGISTRY_MAX_AGE = (86400, 900, 30 * 86400)
"""A snapshot older than this is an error (alarmed), never used; at least one refresh interval (15 min)."""
RETENTION_DAYS = (365, 1, 3650)
SECRET_MAX_AGE = (300, 1, 3600)
"""How long a warm instance uses the secret it read before reading it again: rotation reaches every instance
within this time (a state under a key id not yet seen triggers an early, rate-limited read)."""
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Callback form bodies above this get a 413 page. API Gateway base64-encodes form bodies, and a synchronous
Lambda event may be 6 MB, so about 4.4 MB of body is the most that can reach us."""


class SettingsError(ValueError):
    """Raised when the environment does not describe a valid configuration."""


@dataclass(frozen=True)
class Variable:
    name: str
    functions: tuple[str, ...]
    """The functions that read it (the CDK app passes it to these only)."""
    required: bool = False


_ALL = FUNCTIONS
_SECRET_READERS = ("enrolment_api", "start_session", "callback", "secret_rotation")
VARIABLES: tuple[Variable, ...] = (
    Variable("EMREX_TABLE_NAME", _ALL, required=True),
    Variable("EMREX_BUCKET_NAME", ("callback",), required=True),
    Variable("EMREX_EVENT_BUS_NAME", ("callback",), required=True),
    Variable("EMREX_SECRET_NAME", _SECRET_READERS, required=True),
    Variable("EMREX_SECRET_MAX_AGE_SECONDS", _SECRET_READERS),
    Variable("EMREX_REGISTRY_URL", ("registry_refresh",)),
    Variable("EMREX_REGISTRY_URLS", ("registry_refresh",)),
    Variable("EMREX_REGISTRY_MAX_AGE_SECONDS", ("start_session", "registry_refresh")),
    Variable("EMREX_ALLOWED_RETURN_URLS", ("enrolment_api",)),
    Variable("EMREX_SESSION_TTL_SECONDS", ("enrolment_api", "secret_rotation")),
    Variable("EMREX_RETENTION_DAYS", ("callback",)),
    Variable("EMREX_FORBID_SHA1", ("callback",)),
    Variable("EMREX_STRICT_CERT_VALIDITY", ("callback",)),
    Variable("EMREX_MAX_BODY_BYTES", ("callback",)),
    Variable("EMREX_MAX_ENCODED_BYTES", ("callback",)),
    Variable("EMREX_MAX_DECOMPRESSED_BYTES", ("callback",)),
    Variable("EMREX_MAX_COMPRESSION_RATIO", ("callback",)),
    Variable("EMREX_PUBLIC_BASE_URL", ("enrolment_api", "start_session")),
    Variable("EMREX_XSD_DIR", ("callback",)),
    Variable("EMREX_LOCAL_MODE", ("enrolment_api", "registry_refresh")),
)


def variables_of(function: str) -> tuple[Variable, ...]:
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}")
    return tuple(variable for variable in VARIABLES if function in variable.functions)


def _int(env: Mapping[str, str], name: str, default: int, low: int = 1, high: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw[:40]!r}") from exc
    if value < low:
        raise SettingsError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise SettingsError(f"{name} must be <= {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return False
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw[:40]!r}")


def _registry_sources(env: Mapping[str, str]) -> tuple[str, ...]:
    """``EMREX_REGISTRY_URLS`` (comma- or newline-separated), else ``EMREX_REGISTRY_URL``, else the default.

    Each is an https URL (http to loopback hosts in local mode), a ``file://`` URL or a path; the fetcher
    checks the scheme when it fetches.
    """
    raw = env.get("EMREX_REGISTRY_URLS", "")
    sources = tuple(dict.fromkeys(part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()))
    return sources or (env.get("EMREX_REGISTRY_URL") or DEFAULT_REGISTRY_URL,)


def _url_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    items = tuple(part.strip() for part in raw.replace("\n", ",").split(",") if part.strip())
    for item in items:
        parts = urlsplit(item)
        if parts.scheme not in {"https", "http"} or not parts.netloc:
            raise SettingsError(f"{name}: {item[:200]!r} is not an absolute http(s) URL")
    return items


@dataclass(frozen=True)
class Settings:
    table_name: str
    bucket_name: str = ""
    event_bus_name: str = ""
    secret_name: str = ""
    """Secrets Manager secret holding the state-signing keys and the enrolment API token."""
    secret_max_age_seconds: int = SECRET_MAX_AGE[0]
    registry_url: str = DEFAULT_REGISTRY_URL
    """The first of :attr:`registry_urls`."""
    registry_urls: tuple[str, ...] = (DEFAULT_REGISTRY_URL,)
    """Every registry the chooser combines (EWP catalogue, EMREG v1 and v2 lists, in any number)."""
    registry_max_age_seconds: int = REGISTRY_MAX_AGE[0]
    allowed_return_urls: tuple[str, ...] = ()
    """Prefixes a ``return_url`` must start with (scheme, host and path prefix)."""
    local_mode: bool = False
    """Loopback return URLs are allowed and http is accepted for local URLs."""
    public_base_url: str = ""
    """Base URL of the API as students see it; empty means derive it from the request."""
    session_ttl_seconds: int = SESSION_TTL[0]
    retention_days: int = RETENTION_DAYS[0]
    decode_limits: DecodeLimits = field(default_factory=DecodeLimits)
    verification: VerificationPolicy = field(default_factory=VerificationPolicy)
    max_body_bytes: int = MAX_BODY_BYTES
    xsd_dir: str = ""
    """Folder with the official ELMO XSDs (see layers/); empty disables conformance warnings."""

    @property
    def pipeline_policy(self) -> PipelinePolicy:
        return PipelinePolicy(decode=self.decode_limits, signature=self.verification)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, function: str | None = None) -> Settings:
        """The settings of ``function`` (its required variables must be set), or of every function."""
        env = os.environ if env is None else env
        wanted = variables_of(function) if function else VARIABLES
        missing = [variable.name for variable in wanted if variable.required and not env.get(variable.name)]
        if missing:
            raise SettingsError("missing required environment variables: " + ", ".join(missing))
        public_base_url = env.get("EMREX_PUBLIC_BASE_URL", "").rstrip("/")
        registry_urls = _registry_sources(env)
        if public_base_url and not urlsplit(public_base_url).netloc:
            raise SettingsError("EMREX_PUBLIC_BASE_URL must be an absolute URL")
        return cls(
            table_name=env.get("EMREX_TABLE_NAME", ""),
            bucket_name=env.get("EMREX_BUCKET_NAME", ""),
            event_bus_name=env.get("EMREX_EVENT_BUS_NAME", ""),
            secret_name=env.get("EMREX_SECRET_NAME", ""),
            secret_max_age_seconds=_int(env, "EMREX_SECRET_MAX_AGE_SECONDS", *SECRET_MAX_AGE),
            registry_url=registry_urls[0],
            registry_urls=registry_urls,
            registry_max_age_seconds=_int(env, "EMREX_REGISTRY_MAX_AGE_SECONDS", *REGISTRY_MAX_AGE),
            allowed_return_urls=_url_list(env, "EMREX_ALLOWED_RETURN_URLS"),
            local_mode=_bool(env, "EMREX_LOCAL_MODE"),
            public_base_url=public_base_url,
            session_ttl_seconds=_int(env, "EMREX_SESSION_TTL_SECONDS", *SESSION_TTL),
            retention_days=_int(env, "EMREX_RETENTION_DAYS", *RETENTION_DAYS),
            decode_limits=DecodeLimits(
                max_encoded_bytes=_int(env, "EMREX_MAX_ENCODED_BYTES", DecodeLimits.max_encoded_bytes),
                max_decompressed_bytes=_int(env, "EMREX_MAX_DECOMPRESSED_BYTES", DecodeLimits.max_decompressed_bytes),
                max_compression_ratio=_int(env, "EMREX_MAX_COMPRESSION_RATIO", DecodeLimits.max_compression_ratio),
            ),
            verification=VerificationPolicy(
                forbid_sha1=_bool(env, "EMREX_FORBID_SHA1"),
                strict_cert_validity=_bool(env, "EMREX_STRICT_CERT_VALIDITY"),
            ),
            max_body_bytes=_int(env, "EMREX_MAX_BODY_BYTES", MAX_BODY_BYTES),
            xsd_dir=env.get("EMREX_XSD_DIR", ""),
        )
