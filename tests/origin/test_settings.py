from pathlib import Path

import pytest

from origin.settings import (
    DEV_DASHBOARD_SECRET,
    DEV_INGEST_SECRET,
    DEV_PEPPER,
    PUBLISHED_SECRETS,
    Settings,
    SettingsError,
)

SECRETS = {"PRISM_KEY_PEPPER": "p" * 20, "PRISM_INGEST_SECRET": "i" * 20, "PRISM_DASHBOARD_SECRET": "d" * 20}


def test_development_defaults_work_against_local_services() -> None:
    settings = Settings.from_env({"PRISM_ENV": "development"})
    assert settings.database_url.startswith("postgresql://")
    assert settings.port == 8080 and settings.max_body_bytes == 4 * 1024 * 1024
    assert settings.development
    assert (settings.key_pepper, settings.ingest_secret) == (DEV_PEPPER, DEV_INGEST_SECRET)
    assert settings.dashboard_secret == DEV_DASHBOARD_SECRET


def test_production_is_the_default_and_has_no_default_secrets() -> None:
    settings = Settings.from_env(SECRETS)
    assert not settings.development
    assert (settings.key_pepper, settings.ingest_secret) == ("p" * 20, "i" * 20)
    assert settings.dashboard_secret == "d" * 20
    assert all(secret * 20 not in repr(settings) for secret in "pid")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PRISM_INGEST_SECRET": "i" * 20},
            "PRISM_KEY_PEPPER is not set: generate one with `openssl rand -hex 32` "
            "(or set PRISM_ENV=development locally)",
        ),
        (
            {"PRISM_KEY_PEPPER": "p" * 20, "PRISM_INGEST_SECRET": ""},
            "PRISM_INGEST_SECRET is not set: generate one with `openssl rand -hex 32` "
            "(or set PRISM_ENV=development locally)",
        ),
        (
            {**SECRETS, "PRISM_DASHBOARD_SECRET": ""},
            "PRISM_DASHBOARD_SECRET is not set: generate one with `openssl rand -hex 32` "
            "(or set PRISM_ENV=development locally)",
        ),
        (
            {**SECRETS, "PRISM_DASHBOARD_SECRET": DEV_DASHBOARD_SECRET},
            "PRISM_DASHBOARD_SECRET is a published development value: "
            "generate one with `openssl rand -hex 32`",
        ),
        (
            {**SECRETS, "PRISM_KEY_PEPPER": DEV_PEPPER},
            "PRISM_KEY_PEPPER is a published development value: generate one with `openssl rand -hex 32`",
        ),
        (
            {**SECRETS, "PRISM_INGEST_SECRET": DEV_INGEST_SECRET},
            "PRISM_INGEST_SECRET is a published development value: generate one with `openssl rand -hex 32`",
        ),
        (
            {**SECRETS, "PRISM_ENV": "staging"},
            "PRISM_ENV must be 'production' (the default) or 'development'",
        ),
    ],
)
def test_production_refuses_missing_or_published_secrets(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == message


@pytest.mark.parametrize("published", sorted(PUBLISHED_SECRETS))
def test_every_published_secret_is_refused_in_production_only(published: str) -> None:
    with pytest.raises(SettingsError, match="published development value"):
        Settings.from_env({**SECRETS, "PRISM_INGEST_SECRET": published})
    assert Settings.from_env({"PRISM_ENV": "development", "PRISM_INGEST_SECRET": published}).development


def test_the_admin_token_is_optional_and_a_secret_when_set() -> None:
    assert Settings.from_env(SECRETS).admin_token is None
    token = "a" * 40
    settings = Settings.from_env({**SECRETS, "PRISM_ADMIN_TOKEN": token})
    assert settings.admin_token == token and token not in repr(settings)
    with pytest.raises(SettingsError, match="PRISM_ADMIN_TOKEN is a published development value"):
        Settings.from_env({**SECRETS, "PRISM_ADMIN_TOKEN": "local-demo-admin-token-0123456789"})
    with pytest.raises(SettingsError, match="PRISM_ADMIN_TOKEN must be at least 16 characters"):
        Settings.from_env({"PRISM_ENV": "development", "PRISM_ADMIN_TOKEN": "short"})


def test_values_are_read_and_typed() -> None:
    settings = Settings.from_env(
        {
            "PRISM_PORT": "9000",
            "PRISM_MAX_BODY_BYTES": "2048",
            "PRISM_SPOOL_DIR": "/tmp/x",
            "PRISM_USAGE_RETENTION_MONTHS": "13",
            **SECRETS,
        }
    )
    assert (settings.port, settings.max_body_bytes, settings.spool_dir) == (9000, 2048, Path("/tmp/x"))
    assert settings.usage_retention_months == 13
    cluster = "redis+cluster://10.0.0.1:7000,10.0.0.2:7000"
    assert Settings.from_env({"PRISM_REDIS_URL": cluster, **SECRETS}).redis_url == cluster


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PRISM_PORT": "eighty"}, "PRISM_PORT='eighty' is not a valid int"),
        ({"PRISM_PORT": "70000"}, "PRISM_PORT must be between"),
        ({"PRISM_DATABASE_URL": "mysql://x/y"}, "PRISM_DATABASE_URL"),
        ({"PRISM_REDIS_URL": "http://x"}, "PRISM_REDIS_URL"),
        (
            {"PRISM_REDIS_URL": "redis+cluster://a:7000,b"},
            "PRISM_REDIS_URL='redis+cluster://a:7000,b': 'b' is not",
        ),
        ({"PRISM_KEY_PEPPER": "short"}, "PRISM_KEY_PEPPER must be at least 16"),
        ({"PRISM_CONFIG_PATH": "/nonexistent/prism.toml"}, "not a file"),
        ({"PRISM_KEY_CACHE_SECONDS": "-1"}, "PRISM_KEY_CACHE_SECONDS"),
        ({"PRISM_LOG_LEVEL": "LOUD"}, "PRISM_LOG_LEVEL"),
        ({"PRISM_CF_API_TOKEN": "t"}, "missing: PRISM_CF_ACCOUNT_ID, PRISM_CF_KV_NAMESPACE_ID"),
        ({"PRISM_CF_API_TOKEN": "t", "PRISM_CF_ACCOUNT_ID": "a"}, "missing: PRISM_CF_KV_NAMESPACE_ID"),
        ({"PRISM_CF_KV_NAMESPACE_ID": "n"}, "missing: PRISM_CF_API_TOKEN, PRISM_CF_ACCOUNT_ID"),
        (
            {"PRISM_CF_API_TOKEN": "t x", "PRISM_CF_ACCOUNT_ID": "a", "PRISM_CF_KV_NAMESPACE_ID": "n"},
            "PRISM_CF_API_TOKEN must not contain whitespace",
        ),
        ({"PRISM_CF_API_BASE_URL": "ftp://x"}, "PRISM_CF_API_BASE_URL"),
        ({"PRISM_DEAD_LETTER_SWEEP_SECONDS": "0"}, "PRISM_DEAD_LETTER_SWEEP_SECONDS"),
        ({"PRISM_DEAD_LETTER_SWEEP_SECONDS": "soon"}, "PRISM_DEAD_LETTER_SWEEP_SECONDS"),
        ({"PRISM_USAGE_RETENTION_MONTHS": "-1"}, "'-1' is not a valid whole number"),
        ({"PRISM_USAGE_RETENTION_MONTHS": "1.5"}, "'1.5' is not a valid whole number"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**SECRETS, **env})
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_workers_kv_is_off_by_default_and_on_with_all_three() -> None:
    off = Settings.from_env(SECRETS)
    assert not off.kv_enabled and off.cf_api_base_url is None and off.dead_letter_sweep_seconds == 10.0
    on = Settings.from_env(
        {
            "PRISM_CF_API_TOKEN": "secret-token",
            "PRISM_CF_ACCOUNT_ID": "0123abcd",
            "PRISM_CF_KV_NAMESPACE_ID": "4567ef",
            "PRISM_CF_API_BASE_URL": "http://127.0.0.1:8788/client/v4",
            "PRISM_DEAD_LETTER_SWEEP_SECONDS": "2.5",
            **SECRETS,
        }
    )
    assert on.kv_enabled
    assert (on.cf_account_id, on.cf_kv_namespace_id) == ("0123abcd", "4567ef")
    assert (on.cf_api_base_url, on.dead_letter_sweep_seconds) == ("http://127.0.0.1:8788/client/v4", 2.5)
    assert "secret-token" not in repr(on)
