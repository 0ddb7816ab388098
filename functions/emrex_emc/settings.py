"""The settings of the EMC: every ``EMREX_*`` variable, its default and bounds, and which function reads it.

This module is the one place for defaults and limits: the functions read their settings here
(:meth:`Settings.from_env`, at the first request), and the CDK app (``infra/``) takes its defaults, bounds
and each function's environment from the same tables (:data:`VARIABLES`, :func:`variables_of`). A
function requires only the variables it uses; invalid configuration fails loudly, naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from emrex_emc.core.policy import DecodeLimits, PipelinePolicy, VerificationPolicy

if TYPE_CHECKING:
    from emrex_emc.core.emrex2 import ClientIdentity

FUNCTIONS = (
    "enrolment_api",
    "start_session",
    "callback",
    "outbox_relay",
    "registry_refresh",
    "secret_rotation",
    "admin_api",
)

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
CERT_EXPIRY_WARNING_DAYS = (30, 1, 365)
"""An EMP certificate expiring within this many days is announced (``EMREX EMP Certificate Expiring``)."""
MAX_CLIENT_KEYS = 2
"""EMREX 2.0 signing keys published at once: the one that signs and, during a rollover, the next (or last) one."""
CLIENT_ID = re.compile(r"[\x21-\x7e]{1,128}")
"""Our EMREX 2.0 client id in EMREG: printable ASCII without spaces (match with ``fullmatch``)."""
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
COUNTRY = re.compile(r"[A-Z]{2}")
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Callback form bodies above this get a 413 page. API Gateway base64-encodes form bodies, and a synchronous
Lambda event may be 6 MB, so about 4.4 MB of body is the most that can reach us."""


class SettingsError(ValueError):
    """Raised when the environment does not describe a valid configuration."""


@dataclass(frozen=True)
class Variable:
    """An environment variable of the settings table."""

    name: str
    functions: tuple[str, ...]
    """The functions that read it (the CDK app passes it to these only)."""
    required: bool = False


_ALL = FUNCTIONS
_SECRET_READERS = ("enrolment_api", "start_session", "callback", "secret_rotation", "admin_api")
VARIABLES: tuple[Variable, ...] = (
    Variable("EMREX_TABLE_NAME", _ALL, required=True),
    Variable("EMREX_BUCKET_NAME", ("callback", "admin_api"), required=True),
    Variable("EMREX_EVENT_BUS_NAME", ("callback", "outbox_relay", "registry_refresh", "admin_api"), required=True),
    Variable("EMREX_SECRET_NAME", _SECRET_READERS, required=True),
    Variable("EMREX_SECRET_MAX_AGE_SECONDS", _SECRET_READERS),
    Variable("EMREX_REGISTRY_URL", ("registry_refresh",)),
    Variable("EMREX_REGISTRY_URLS", ("registry_refresh",)),
    Variable("EMREX_REGISTRY_MAX_AGE_SECONDS", ("start_session", "registry_refresh")),
    Variable("EMREX_ALLOWED_RETURN_URLS", ("enrolment_api",)),
    Variable("EMREX_SESSION_TTL_SECONDS", ("enrolment_api", "secret_rotation")),
    Variable("EMREX_RETENTION_DAYS", ("callback", "admin_api")),
    Variable("EMREX_CERT_EXPIRY_WARNING_DAYS", ("registry_refresh",)),
    Variable("EMREX_FORBID_SHA1", ("callback",)),
    Variable("EMREX_STRICT_CERT_VALIDITY", ("callback",)),
    Variable("EMREX_MAX_BODY_BYTES", ("callback",)),
    Variable("EMREX_MAX_ENCODED_BYTES", ("callback",)),
    Variable("EMREX_MAX_DECOMPRESSED_BYTES", ("callback",)),
    Variable("EMREX_MAX_COMPRESSION_RATIO", ("callback",)),
    Variable("EMREX_PUBLIC_BASE_URL", ("enrolment_api", "start_session", "callback")),
    Variable("EMREX_XSD_DIR", ("callback",)),
    Variable("EMREX_LOCAL_MODE", ("enrolment_api", "callback", "registry_refresh")),
    Variable("EMREX_CLIENT_ID", ("start_session", "callback")),
    Variable("EMREX_CLIENT_KEYS", ("start_session", "callback")),
    Variable("EMREX_CLIENT_NAME", ("start_session",)),
    Variable("EMREX_CLIENT_COUNTRY", ("start_session",)),
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


POLICY_VARIABLES = (
    "EMREX_MAX_ENCODED_BYTES",
    "EMREX_MAX_DECOMPRESSED_BYTES",
    "EMREX_MAX_COMPRESSION_RATIO",
    "EMREX_FORBID_SHA1",
    "EMREX_STRICT_CERT_VALIDITY",
)
"""The callback's variables that decide how a document is verified (``emrex-emc transfers reverify`` reads
them from the deployed callback or the local stack)."""


def pipeline_policy_from_env(env: Mapping[str, str]) -> PipelinePolicy:
    """The verification policy of :data:`POLICY_VARIABLES` in ``env`` (defaults for those unset)."""
    return PipelinePolicy(
        decode=DecodeLimits(
            max_encoded_bytes=_int(env, "EMREX_MAX_ENCODED_BYTES", DecodeLimits.max_encoded_bytes),
            max_decompressed_bytes=_int(env, "EMREX_MAX_DECOMPRESSED_BYTES", DecodeLimits.max_decompressed_bytes),
            max_compression_ratio=_int(env, "EMREX_MAX_COMPRESSION_RATIO", DecodeLimits.max_compression_ratio),
        ),
        signature=VerificationPolicy(
            forbid_sha1=_bool(env, "EMREX_FORBID_SHA1"),
            strict_cert_validity=_bool(env, "EMREX_STRICT_CERT_VALIDITY"),
        ),
    )


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


def _client_keys(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``EMREX_CLIENT_KEYS``: ``kid=KMS key id or ARN`` pairs, comma-separated; the first signs."""
    keys: list[tuple[str, str]] = []
    for item in (part.strip() for part in env.get("EMREX_CLIENT_KEYS", "").split(",")):
        if not item:
            continue
        kid, _, key = item.partition("=")
        if not KEY_ID.fullmatch(kid.strip()) or not key.strip():
            raise SettingsError(f"EMREX_CLIENT_KEYS: {item[:100]!r} is not 'kid=KMS key id or ARN'")
        keys.append((kid.strip(), key.strip()))
    if len(keys) > MAX_CLIENT_KEYS or len({kid for kid, _ in keys}) != len(keys):
        raise SettingsError(f"EMREX_CLIENT_KEYS must list 1 to {MAX_CLIENT_KEYS} keys with distinct kids")
    return tuple(keys)


def _client_id(env: Mapping[str, str]) -> str:
    value = env.get("EMREX_CLIENT_ID", "").strip()
    if value and not CLIENT_ID.fullmatch(value):
        raise SettingsError("EMREX_CLIENT_ID must be 1 to 128 printable ASCII characters without spaces")
    return value


def _country(env: Mapping[str, str]) -> str:
    value = env.get("EMREX_CLIENT_COUNTRY", "").strip().upper()
    if value and not COUNTRY.fullmatch(value):
        raise SettingsError(f"EMREX_CLIENT_COUNTRY must be an ISO 3166-1 alpha-2 code, got {value[:20]!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """A function's settings, read from its environment (``Settings.from_env``)."""

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
    cert_expiry_warning_days: int = CERT_EXPIRY_WARNING_DAYS[0]
    decode_limits: DecodeLimits = field(default_factory=DecodeLimits)
    verification: VerificationPolicy = field(default_factory=VerificationPolicy)
    max_body_bytes: int = MAX_BODY_BYTES
    xsd_dir: str = ""
    """Folder with the official ELMO XSDs (see layers/); empty disables conformance warnings."""
    client_id: str = ""
    """Our EMREX 2.0 ``client_id`` in EMREG (``EMREX_CLIENT_ID``)."""
    client_name: str = ""
    client_country: str = ""
    client_keys: tuple[tuple[str, str], ...] = ()
    """``(kid, KMS key)`` of our EMREX 2.0 signing keys; the first signs client assertions, all are published."""

    @property
    def redirect_uri(self) -> str:
        """``{EMREX_PUBLIC_BASE_URL}/callback``: configuration only, never a request's Host."""
        return f"{self.public_base_url}/callback" if self.public_base_url else ""

    @property
    def client_identity(self) -> ClientIdentity | None:
        """Who we are to EMREX 2.0 EMPs; None (2.0 EMPs are not offered) without a client id, base URL or key."""
        if not (self.client_id and self.public_base_url and self.client_keys):
            return None
        from emrex_emc.core.emrex2 import ClientIdentity  # EMREX 2.0 only: not at every cold start

        return ClientIdentity(
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            name=self.client_name or self.client_id,
            country=self.client_country,
        )

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
        policy = pipeline_policy_from_env(env)
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
            cert_expiry_warning_days=_int(env, "EMREX_CERT_EXPIRY_WARNING_DAYS", *CERT_EXPIRY_WARNING_DAYS),
            decode_limits=policy.decode,
            verification=policy.signature,
            max_body_bytes=_int(env, "EMREX_MAX_BODY_BYTES", MAX_BODY_BYTES),
            xsd_dir=env.get("EMREX_XSD_DIR", ""),
            client_id=_client_id(env),
            client_name=env.get("EMREX_CLIENT_NAME", "").strip()[:200],
            client_country=_country(env),
            client_keys=_client_keys(env),
        )
