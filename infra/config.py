"""The one typed configuration of the CDK app, read from CDK context (``cdk.json`` or ``-c key=value``).

Context values given on the command line arrive as strings; values from ``cdk.json`` keep their JSON
type. Both are accepted. Every problem is reported at once, naming the context key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from emrex_emc.settings import (
    CERT_EXPIRY_WARNING_DAYS,
    CLIENT_ID,
    COUNTRY,
    DEFAULT_REGISTRY_URL,
    KEY_ID,
    MAX_CLIENT_KEYS,
    REGISTRY_MAX_AGE,
    RETENTION_DAYS,
    SECRET_MAX_AGE,
    SESSION_TTL,
)

PREFIX = "emrex:"
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922)
"""The values CloudWatch Logs accepts."""
ARCHITECTURES = ("arm64", "x86_64")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")

ContextGetter = Callable[[str], Any]


class ConfigError(ValueError):
    """The context does not describe a deployable configuration."""


@dataclass(frozen=True)
class EmrexConfig:
    """Deployment settings; the context key of each field is ``emrex:<camelCase name>``."""

    stack_name: str = "EmrexEmc"
    registry_url: str = DEFAULT_REGISTRY_URL
    registry_urls: tuple[str, ...] = ()
    """Several registries combined in one chooser (EWP catalogue, EMREG v1/v2 lists); when set, it replaces
    ``registry_url``."""
    registry_max_age_seconds: int = REGISTRY_MAX_AGE[0]
    allowed_return_urls: tuple[str, ...] = ()
    session_ttl_seconds: int = SESSION_TTL[0]
    secret_max_age_seconds: int = SECRET_MAX_AGE[0]
    """How long warm functions use the secret they read before reading it again (rotation reaches them)."""
    retention_days: int = RETENTION_DAYS[0]
    cert_expiry_warning_days: int = CERT_EXPIRY_WARNING_DAYS[0]
    """An EMP certificate expiring within this many days is announced (EMREX EMP Certificate Expiring)."""
    rejection_spike_threshold: int = 5
    """Rejected outcomes of one EMP within 15 minutes that raise the per-EMP rejection alarm."""
    forbid_sha1: bool = False
    strict_cert_validity: bool = False
    client_id: str = ""
    """Our EMREX 2.0 client id in EMREG; empty: EMREX 2.0 EMPs are not offered. Needs ``domain_name`` (the
    redirect URI registered in EMREG is ``https://{domain_name}/callback``)."""
    client_name: str = ""
    client_country: str = ""
    client_keys: tuple[str, ...] = ("emc-key-1",)
    """Kids of the EMREX 2.0 signing keys (one KMS key each); the first signs, a rollover lists two."""
    alarm_email: str = ""
    domain_name: str = ""
    certificate_arn: str = ""
    throttle_rate_limit: int = 50
    """Requests per second, steady state, for the whole API (stage default route settings)."""
    throttle_burst_limit: int = 100
    architecture: str = "arm64"
    log_retention_days: int = 90
    log_level: str = "INFO"
    snap_start: bool = False
    """Lambda SnapStart for the two functions a student waits on (start_session, callback): their init runs
    when a version is published and each cold start restores a snapshot; the API calls a ``live`` alias.
    Extra cost (SnapStart cache and restore charges), hence off by default."""
    retain_data: bool = True
    """Keep the table, bucket, key and secret when the stack is deleted (set false for throwaway stacks)."""
    nag: bool = True
    """Apply cdk-nag AwsSolutions checks at synth."""
    stub_layer: bool = False
    """Use an empty dependency layer (fast unit-test synths only; never deploy it)."""

    @property
    def registry_sources(self) -> tuple[str, ...]:
        return self.registry_urls or (self.registry_url,)

    @property
    def public_base_url(self) -> str:
        return f"https://{self.domain_name}" if self.domain_name else ""

    def _emrex2_problems(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if self.client_id and not CLIENT_ID.fullmatch(self.client_id):
            problems.append(("client_id", "must be 1 to 128 printable ASCII characters without spaces"))
        if self.client_id and not self.domain_name:
            problems.append(("client_id", "needs emrex:domainName: EMREG holds https://{domain}/callback"))
        if self.client_country and not COUNTRY.fullmatch(self.client_country):
            problems.append(("client_country", f"{self.client_country!r} is not an ISO 3166-1 alpha-2 code"))
        kids = self.client_keys
        distinct = len(set(kids)) == len(kids) and all(KEY_ID.fullmatch(kid) for kid in kids)
        if not 1 <= len(kids) <= MAX_CLIENT_KEYS or not distinct:
            problems.append(("client_keys", "must list 1 or 2 distinct kids of [A-Za-z0-9._-] (2 during a rollover)"))
        return problems

    @classmethod
    def context_key(cls, field_name: str) -> str:
        head, *rest = field_name.split("_")
        return PREFIX + head + "".join(part.capitalize() for part in rest)

    @classmethod
    def from_context(cls, get: ContextGetter) -> EmrexConfig:
        """Build and validate from a context lookup (``app.node.try_get_context``)."""
        values: dict[str, Any] = {}
        errors: list[str] = []
        for item in fields(cls):
            key = cls.context_key(item.name)
            raw = get(key)
            if raw is None:
                continue
            try:
                values[item.name] = _coerce(raw, item.default)
            except ConfigError as exc:
                errors.append(f"{key}: {exc}")
        if errors:
            raise ConfigError("invalid CDK context:\n  " + "\n  ".join(errors))
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        errors = [f"{self.context_key(name)}: {message}" for name, message in self._problems()]
        if errors:
            raise ConfigError("invalid CDK context:\n  " + "\n  ".join(errors))

    def _problems(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if not _STACK_NAME.match(self.stack_name):
            problems.append(("stack_name", "must start with a letter and hold only letters, digits and '-'"))
        if not _is_https_url(self.registry_url):
            problems.append(("registry_url", f"{self.registry_url!r} is not an https URL"))
        problems += [
            ("registry_urls", f"{url!r} is not an https URL") for url in self.registry_urls if not _is_https_url(url)
        ]
        problems += [
            ("allowed_return_urls", f"{url!r} is not an https URL (scheme, host and path prefix)")
            for url in self.allowed_return_urls
            if not _is_https_url(url)
        ]
        problems += _range("registry_max_age_seconds", self.registry_max_age_seconds, *REGISTRY_MAX_AGE[1:])
        problems += _range("session_ttl_seconds", self.session_ttl_seconds, *SESSION_TTL[1:])
        problems += _range("secret_max_age_seconds", self.secret_max_age_seconds, *SECRET_MAX_AGE[1:])
        problems += _range("retention_days", self.retention_days, *RETENTION_DAYS[1:])
        problems += _range("cert_expiry_warning_days", self.cert_expiry_warning_days, *CERT_EXPIRY_WARNING_DAYS[1:])
        problems += _range("rejection_spike_threshold", self.rejection_spike_threshold, 1, 10000)
        problems += _range("throttle_rate_limit", self.throttle_rate_limit, 1, 10000)
        problems += _range("throttle_burst_limit", self.throttle_burst_limit, 1, 5000)
        problems += self._emrex2_problems()
        if self.alarm_email and not _EMAIL.match(self.alarm_email):
            problems.append(("alarm_email", f"{self.alarm_email!r} is not an e-mail address"))
        if self.domain_name and not _DOMAIN.match(self.domain_name):
            problems.append(("domain_name", f"{self.domain_name!r} is not a lower-case DNS name"))
        if bool(self.domain_name) != bool(self.certificate_arn):
            problems.append(("certificate_arn", "domainName and certificateArn must be set together"))
        if self.certificate_arn and not _ACM_ARN.match(self.certificate_arn):
            problems.append(("certificate_arn", f"{self.certificate_arn!r} is not an ACM certificate ARN"))
        if self.architecture not in ARCHITECTURES:
            problems.append(("architecture", f"must be one of {', '.join(ARCHITECTURES)}"))
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            problems.append(("log_retention_days", f"must be one of {LOG_RETENTION_DAYS}"))
        if self.log_level not in LOG_LEVELS:
            problems.append(("log_level", f"must be one of {', '.join(LOG_LEVELS)}"))
        return problems


def _range(name: str, value: int, low: int, high: int) -> list[tuple[str, str]]:
    return [] if low <= value <= high else [(name, f"must be between {low} and {high}, got {value}")]


def _is_https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname) and not parts.query and not parts.fragment


def _coerce(raw: Any, default: Any) -> Any:
    """Convert a context value to the type of the field's default."""
    if isinstance(default, bool):
        return _to_bool(raw)
    if isinstance(default, int):
        return _to_int(raw)
    if isinstance(default, tuple):
        return _to_str_tuple(raw)
    if not isinstance(raw, str):
        raise ConfigError(f"expected a string, got {raw!r}")
    return raw.strip()


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"true", "1", "yes", "on"}:
        return True
    if isinstance(raw, str) and raw.strip().lower() in {"false", "0", "no", "off"}:
        return False
    raise ConfigError(f"expected true or false, got {raw!r}")


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ConfigError(f"expected an integer, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
        return int(raw)
    raise ConfigError(f"expected an integer, got {raw!r}")


def _to_str_tuple(raw: Any) -> tuple[str, ...]:
    items: list[Any]
    if isinstance(raw, str):
        items = raw.split(",")
    elif isinstance(raw, list):
        items = raw
    else:
        raise ConfigError(f"expected a list or a comma-separated string, got {raw!r}")
    if not all(isinstance(item, str) for item in items):
        raise ConfigError(f"expected strings, got {raw!r}")
    return tuple(item.strip() for item in items if item.strip())
