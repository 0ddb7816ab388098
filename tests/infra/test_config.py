"""infra/config.py: context parsing and every validation error."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from emrex_emc import settings
from infra.config import DEFAULT_REGISTRY_URL, ConfigError, EmrexConfig

REPO = Path(__file__).resolve().parents[2]

ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123"


def config_from(**context: Any) -> EmrexConfig:
    return EmrexConfig.from_context({f"emrex:{key}": value for key, value in context.items()}.get)


def test_defaults_point_at_the_ewp_dev_registry() -> None:
    config = config_from()
    assert config.registry_url == DEFAULT_REGISTRY_URL == "https://dev-registry.erasmuswithoutpaper.eu/catalogue-v1.xml"
    assert (config.session_ttl_seconds, config.retention_days, config.architecture) == (1800, 365, "arm64")
    assert config.nag and config.retain_data and not config.stub_layer
    assert config.public_base_url == ""


def test_cdk_json_lists_every_setting_with_its_default() -> None:
    context = json.loads((REPO / "cdk.json").read_text(encoding="utf-8"))["context"]
    listed = {key: value for key, value in context.items() if key.startswith("emrex:")}
    defaults = {EmrexConfig.context_key(item.name): item.default for item in dataclasses.fields(EmrexConfig)}
    assert listed.keys() == defaults.keys()
    assert EmrexConfig.from_context(listed.get) == EmrexConfig()  # cdk.json says what the code defaults to


@pytest.mark.parametrize(
    ("name", "runtime"),
    [
        ("session_ttl_seconds", settings.SESSION_TTL),
        ("registry_max_age_seconds", settings.REGISTRY_MAX_AGE),
        ("secret_max_age_seconds", settings.SECRET_MAX_AGE),
        ("retention_days", settings.RETENTION_DAYS),
        ("cert_expiry_warning_days", settings.CERT_EXPIRY_WARNING_DAYS),
    ],
)
def test_infra_defaults_and_bounds_are_the_functions_own(name: str, runtime: tuple[int, int, int]) -> None:
    default, low, high = runtime
    key = EmrexConfig.context_key(name).removeprefix("emrex:")
    assert getattr(config_from(), name) == default
    for accepted in (low, high):
        config_from(**{key: accepted})
    for refused in (low - 1, high + 1):
        with pytest.raises(ConfigError, match=f"emrex:{key}"):
            config_from(**{key: refused})


def test_cli_strings_are_coerced_to_the_field_types() -> None:
    config = config_from(
        sessionTtlSeconds="600",
        forbidSha1="true",
        strictCertValidity="0",
        allowedReturnUrls="https://a.example.edu/return, https://b.example.edu/emrex/",
        domainName="emrex.example.edu",
        certificateArn="arn:aws:acm:eu-west-1:123456789012:certificate/abc-123",
    )
    assert config.session_ttl_seconds == 600
    assert config.forbid_sha1 is True and config.strict_cert_validity is False
    assert config.allowed_return_urls == ("https://a.example.edu/return", "https://b.example.edu/emrex/")
    assert config.public_base_url == "https://emrex.example.edu"


def test_json_values_from_cdk_json_are_accepted() -> None:
    config = config_from(allowedReturnUrls=["https://a.example.edu/r"], retentionDays=30, nag=False)
    assert config.allowed_return_urls == ("https://a.example.edu/r",)
    assert config.retention_days == 30 and config.nag is False


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"stackName": "1bad"}, "emrex:stackName"),
        ({"registryUrl": "http://dev-registry.erasmuswithoutpaper.eu/catalogue-v1.xml"}, "emrex:registryUrl"),
        ({"allowedReturnUrls": ["https://ok.example.edu/", "http://plain.example.edu/"]}, "plain.example.edu"),
        ({"allowedReturnUrls": "https://x.example.edu/?q=1"}, "emrex:allowedReturnUrls"),
        ({"registryMaxAgeSeconds": 60}, "emrex:registryMaxAgeSeconds"),
        ({"sessionTtlSeconds": 59}, "emrex:sessionTtlSeconds"),
        ({"secretMaxAgeSeconds": 0}, "emrex:secretMaxAgeSeconds"),
        ({"secretMaxAgeSeconds": 3601}, "emrex:secretMaxAgeSeconds"),
        ({"retentionDays": 0}, "emrex:retentionDays"),
        ({"throttleRateLimit": 0}, "emrex:throttleRateLimit"),
        ({"throttleBurstLimit": 5001}, "emrex:throttleBurstLimit"),
        ({"alarmEmail": "not-an-address"}, "emrex:alarmEmail"),
        ({"domainName": "Bad_Domain", "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/x"}, "domain"),
        ({"domainName": "emrex.example.edu"}, "must be set together"),
        ({"domainName": "emrex.example.edu", "certificateArn": "arn:aws:iam::1:role/x"}, "not an ACM"),
        ({"architecture": "ppc64"}, "emrex:architecture"),
        ({"logRetentionDays": 42}, "emrex:logRetentionDays"),
        ({"logLevel": "TRACE"}, "emrex:logLevel"),
        ({"sessionTtlSeconds": "ten"}, "expected an integer"),
        ({"sessionTtlSeconds": True}, "expected an integer"),
        ({"forbidSha1": "maybe"}, "expected true or false"),
        ({"allowedReturnUrls": 5}, "expected a list"),
        ({"allowedReturnUrls": [1]}, "expected strings"),
        ({"registryUrl": 7}, "expected a string"),
        ({"registryUrls": ["https://ok.example/list.json", "http://plain.example/list.json"]}, "emrex:registryUrls"),
        ({"clientId": "emc-x"}, "needs emrex:domainName"),
        ({"clientId": "has space", "domainName": "e.example.edu", "certificateArn": ARN}, "emrex:clientId"),
        ({"clientCountry": "nl"}, "emrex:clientCountry"),
        ({"clientKeys": []}, "emrex:clientKeys"),
        ({"clientKeys": ["a", "b", "c"]}, "emrex:clientKeys"),
        ({"clientKeys": ["a", "a"]}, "emrex:clientKeys"),
        ({"clientKeys": ["bad/kid"]}, "emrex:clientKeys"),
    ],
)
def test_invalid_context_is_rejected_naming_the_key(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from(**context)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        config_from(retentionDays=0, architecture="mips")
    assert "emrex:retentionDays" in str(info.value) and "emrex:architecture" in str(info.value)


def test_several_registries_replace_the_single_one() -> None:
    assert config_from().registry_sources == (DEFAULT_REGISTRY_URL,)
    urls = ["https://registry.erasmuswithoutpaper.eu/catalogue-v1.xml", "https://emreg.example.eu/emp-list"]
    assert config_from(registryUrls=urls).registry_sources == tuple(urls)
    assert config_from(registryUrls=",".join(urls)).registry_sources == tuple(urls)
