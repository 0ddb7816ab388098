import pytest

from emrex_emc.settings import Settings, SettingsError

BASE = {
    "EMREX_TABLE_NAME": "t",
    "EMREX_BUCKET_NAME": "b",
    "EMREX_EVENT_BUS_NAME": "bus",
    "EMREX_SECRET_NAME": "s",
}


def test_defaults_and_parsing():
    settings = Settings.from_env(
        {**BASE, "EMREX_ALLOWED_RETURN_URLS": "https://a.example/x, https://b.example/", "EMREX_FORBID_SHA1": "yes"}
    )
    assert settings.allowed_return_urls == ("https://a.example/x", "https://b.example/")
    assert settings.verification.forbid_sha1 is True
    assert settings.session_ttl_seconds == 1800
    assert settings.secret_max_age_seconds == 300


def test_secret_max_age_is_honoured_down_to_one_second():
    assert Settings.from_env({**BASE, "EMREX_SECRET_MAX_AGE_SECONDS": "1"}).secret_max_age_seconds == 1


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({}, "EMREX_TABLE_NAME"),
        ({**BASE, "EMREX_SESSION_TTL_SECONDS": "abc"}, "EMREX_SESSION_TTL_SECONDS"),
        ({**BASE, "EMREX_SESSION_TTL_SECONDS": "5"}, ">= 60"),
        ({**BASE, "EMREX_SECRET_MAX_AGE_SECONDS": "0"}, "EMREX_SECRET_MAX_AGE_SECONDS must be >= 1"),
        ({**BASE, "EMREX_FORBID_SHA1": "maybe"}, "EMREX_FORBID_SHA1"),
        ({**BASE, "EMREX_ALLOWED_RETURN_URLS": "ftp://x"}, "EMREX_ALLOWED_RETURN_URLS"),
    ],
)
def test_invalid_settings_name_the_variable(env, fragment):
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_env(env)


def test_several_registries_come_from_emrex_registry_urls():
    assert Settings.from_env(BASE).registry_urls == ("https://dev-registry.erasmuswithoutpaper.eu/catalogue-v1.xml",)
    single = Settings.from_env({**BASE, "EMREX_REGISTRY_URL": "/srv/catalogue.xml"})
    assert single.registry_urls == ("/srv/catalogue.xml",)
    several = Settings.from_env(
        {
            **BASE,
            "EMREX_REGISTRY_URL": "/ignored.xml",
            "EMREX_REGISTRY_URLS": "https://a.example/catalogue-v1.xml,\n file:///srv/emreg v2.json ,https://a.example/catalogue-v1.xml",
        }
    )
    assert several.registry_urls == ("https://a.example/catalogue-v1.xml", "file:///srv/emreg v2.json")
    assert several.registry_url == "https://a.example/catalogue-v1.xml"


def test_the_emrex2_client_identity_comes_from_configuration_only():
    assert Settings.from_env(BASE).client_identity is None
    env = {
        **BASE,
        "EMREX_PUBLIC_BASE_URL": "https://emrex.uni.example/",
        "EMREX_CLIENT_ID": "emc-uni",
        "EMREX_CLIENT_KEYS": "emc-key-1=arn:aws:kms:eu-west-1:1:key/a, emc-key-2=arn:aws:kms:eu-west-1:1:key/b",
        "EMREX_CLIENT_COUNTRY": "nl",
    }
    settings = Settings.from_env(env)
    assert settings.client_keys == (
        ("emc-key-1", "arn:aws:kms:eu-west-1:1:key/a"),
        ("emc-key-2", "arn:aws:kms:eu-west-1:1:key/b"),
    )
    identity = settings.client_identity
    assert identity is not None
    assert (identity.client_id, identity.redirect_uri, identity.name, identity.country) == (
        "emc-uni",
        "https://emrex.uni.example/callback",
        "emc-uni",
        "NL",
    )
    assert Settings.from_env({**env, "EMREX_CLIENT_ID": ""}).client_identity is None
    assert Settings.from_env({**env, "EMREX_PUBLIC_BASE_URL": ""}).client_identity is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EMREX_CLIENT_ID", "has space"),
        ("EMREX_CLIENT_KEYS", "no-equals-sign"),
        ("EMREX_CLIENT_KEYS", "a=x,a=y"),
        ("EMREX_CLIENT_KEYS", "a=x,b=y,c=z"),
        ("EMREX_CLIENT_KEYS", "bad/kid=x"),
        ("EMREX_CLIENT_COUNTRY", "Netherlands"),
    ],
)
def test_invalid_client_settings_name_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({**BASE, variable: value})
