"""The origin's settings: the only place that reads the environment."""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from origin.stores import redis_client

T = TypeVar("T")

# Provider API keys: PRISM_PROVIDER_<NAME>_API_KEY; NAME is the config name upper-cased, "-" as "_".
_PROVIDER_KEY_PREFIX = "PRISM_PROVIDER_"
_PROVIDER_KEY_SUFFIX = "_API_KEY"

DEVELOPMENT = "development"
PRODUCTION = "production"
DEV_PEPPER = "dev-pepper-not-for-production"
DEV_INGEST_SECRET = "dev-ingest-secret-not-for-production"
DEV_DASHBOARD_SECRET = "dev-dashboard-secret-not-for-production"
# Every secret this repository publishes (the development defaults, `make run`'s, the placeholders of
# deploy/prism.env.example): anyone can read them, so production refuses them.
PUBLISHED_SECRETS = frozenset(
    {
        DEV_PEPPER,
        DEV_INGEST_SECRET,
        DEV_DASHBOARD_SECRET,
        "local-demo-pepper-0123456789",
        "local-demo-ingest-secret-0123456789",
        "local-demo-dashboard-secret-0123456789",
        "local-demo-admin-token-0123456789",
        "CHANGE-ME-to-a-long-random-string",
        "CHANGE-ME-to-another-long-random-string",
    }
)
_GENERATE = "generate one with `openssl rand -hex 32`"


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line meant for a person."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "postgresql://postgres:postgres@127.0.0.1:5432/prism"
    redis_url: str = "redis://127.0.0.1:6379/0"
    env: str = PRODUCTION
    # No default: production needs all three; development mode fills in the DEV_* values.
    key_pepper: str = field(default="", repr=False)
    ingest_secret: str = field(default="", repr=False)
    dashboard_secret: str = field(default="", repr=False)  # signs dashboard session cookies
    admin_token: str | None = field(default=None, repr=False)  # None: the admin API is off
    host: str = "127.0.0.1"
    port: int = 8080
    config_path: Path | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    spool_dir: Path = Path("var/spool")
    log_level: str = "INFO"
    key_cache_seconds: float = 4.0
    local_cache_seconds: float = 1.0  # the exact cache's hot entries in process memory; 0: off
    provider_api_keys: Mapping[str, str] = field(default_factory=dict)
    # Workers KV publishing (keys, cache entries) and the dead-letter sweep: all three or none.
    cf_api_token: str | None = field(default=None, repr=False)
    cf_account_id: str | None = None
    cf_kv_namespace_id: str | None = None
    cf_api_base_url: str | None = None  # None: the cloudflare SDK's default, the real Cloudflare API
    dead_letter_sweep_seconds: float = 10.0
    # Prompt-prefix warm-ups: how often each instance ticks (0: never; the instance runs none) and how
    # long the lease of the instance that runs them lasts without renewal.
    warmup_tick_seconds: float = 10.0
    warmup_lease_seconds: float = 30.0
    # How long a stored Response (``store``, the default) can be read or continued by id.
    responses_retention_days: float = 30.0
    # Months of usage rows kept: older months' partitions are dropped whole (0: every month is kept).
    usage_retention_months: int = 0
    # Where this origin's Redis and Postgres run (e.g. "eu-west-1"), for the residency report.
    region: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from ``PRISM_*`` variables; raise ``SettingsError`` on bad input."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        values["provider_api_keys"] = {
            name[len(_PROVIDER_KEY_PREFIX) : -len(_PROVIDER_KEY_SUFFIX)].lower(): value
            for name, value in env.items()
            if name.startswith(_PROVIDER_KEY_PREFIX) and name.endswith(_PROVIDER_KEY_SUFFIX) and value
        }
        for spec in fields(cls):
            if spec.name not in _PARSERS:
                continue
            name = f"PRISM_{spec.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            values[spec.name] = _parse(name, raw, _PARSERS[spec.name])
        if values.get("env") == DEVELOPMENT:
            values.setdefault("key_pepper", DEV_PEPPER)
            values.setdefault("ingest_secret", DEV_INGEST_SECRET)
            values.setdefault("dashboard_secret", DEV_DASHBOARD_SECRET)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        _require_url("PRISM_DATABASE_URL", self.database_url, ("postgres", "postgresql"))
        _require_url("PRISM_REDIS_URL", self.redis_url, redis_client.SCHEMES)
        if redis_client.is_cluster_url(self.redis_url):
            try:
                redis_client.cluster_nodes(self.redis_url)
            except redis_client.ClusterURLError as error:
                raise SettingsError(f"PRISM_REDIS_URL={self.redis_url!r}: {error}") from None
        if self.env not in (PRODUCTION, DEVELOPMENT):
            raise SettingsError(f"PRISM_ENV must be {PRODUCTION!r} (the default) or {DEVELOPMENT!r}")
        _require_secret("PRISM_KEY_PEPPER", self.key_pepper, development=self.development)
        _require_secret("PRISM_INGEST_SECRET", self.ingest_secret, development=self.development)
        _require_secret("PRISM_DASHBOARD_SECRET", self.dashboard_secret, development=self.development)
        if self.admin_token is not None:
            _require_secret("PRISM_ADMIN_TOKEN", self.admin_token, development=self.development)
        if not 0 < self.port < 65536:
            raise SettingsError(f"PRISM_PORT must be between 1 and 65535, got {self.port}")
        if self.max_body_bytes < 1024:
            raise SettingsError("PRISM_MAX_BODY_BYTES must be at least 1024")
        if self.config_path is not None and not self.config_path.is_file():
            raise SettingsError(f"PRISM_CONFIG_PATH points to {self.config_path}, which is not a file")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError("PRISM_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR")
        self._validate_cloudflare()

    def _validate_cloudflare(self) -> None:
        given = {
            "PRISM_CF_API_TOKEN": self.cf_api_token,
            "PRISM_CF_ACCOUNT_ID": self.cf_account_id,
            "PRISM_CF_KV_NAMESPACE_ID": self.cf_kv_namespace_id,
        }
        missing = [name for name, value in given.items() if not value]
        if missing and len(missing) < len(given):
            raise SettingsError(
                "Workers KV publishing needs PRISM_CF_API_TOKEN, PRISM_CF_ACCOUNT_ID and "
                f"PRISM_CF_KV_NAMESPACE_ID together; missing: {', '.join(missing)}"
            )
        for name, value in given.items():
            if value and any(char.isspace() for char in value):
                raise SettingsError(f"{name} must not contain whitespace")
        if self.cf_api_base_url is not None:
            _require_url("PRISM_CF_API_BASE_URL", self.cf_api_base_url, ("https", "http"))
        if self.dead_letter_sweep_seconds <= 0:
            raise SettingsError("PRISM_DEAD_LETTER_SWEEP_SECONDS must be a positive number")
        if 0 < self.warmup_tick_seconds >= self.warmup_lease_seconds:
            raise SettingsError("PRISM_WARMUP_LEASE_SECONDS must be longer than PRISM_WARMUP_TICK_SECONDS")

    @property
    def warmup_grace_seconds(self) -> float:
        """How long past its interval a warm-up may wait (a takeover of the lease) before it is overdue."""
        return self.warmup_lease_seconds + 2 * self.warmup_tick_seconds

    @property
    def kv_enabled(self) -> bool:
        """True when the token, account and namespace are all set (``validate`` refuses a partial set)."""
        return bool(self.cf_api_token and self.cf_account_id and self.cf_kv_namespace_id)

    @property
    def development(self) -> bool:
        return self.env == DEVELOPMENT


def _require_secret(name: str, value: str, *, development: bool) -> None:
    if not development:
        if not value:
            raise SettingsError(f"{name} is not set: {_GENERATE} (or set PRISM_ENV=development locally)")
        if value in PUBLISHED_SECRETS:
            raise SettingsError(f"{name} is a published development value: {_GENERATE}")
    if len(value) < 16:
        raise SettingsError(f"{name} must be at least 16 characters")


def _parse(name: str, raw: str, parser: Callable[[str], T]) -> T:
    try:
        return parser(raw)
    except ValueError:
        kind = getattr(parser, "__name__", "value")
        raise SettingsError(f"{name}={raw!r} is not a valid {kind}") from None


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:  # NaN too
        raise ValueError(raw)
    return value


_positive_float.__name__ = "positive number"


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # NaN too
        raise ValueError(raw)
    return value


_non_negative_float.__name__ = "number, 0 or more"


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


_non_negative_int.__name__ = "whole number, 0 or more"

_PARSERS: dict[str, Callable[[str], Any]] = {
    "env": str,
    "database_url": str,
    "redis_url": str,
    "key_pepper": str,
    "ingest_secret": str,
    "dashboard_secret": str,
    "admin_token": str,
    "host": str,
    "port": int,
    "config_path": Path,
    "max_body_bytes": int,
    "spool_dir": Path,
    "log_level": str,
    "key_cache_seconds": _positive_float,
    "local_cache_seconds": _non_negative_float,
    "cf_api_token": str,
    "cf_account_id": str,
    "cf_kv_namespace_id": str,
    "cf_api_base_url": str,
    "dead_letter_sweep_seconds": _positive_float,
    "warmup_tick_seconds": _non_negative_float,
    "warmup_lease_seconds": _positive_float,
    "responses_retention_days": _positive_float,
    "usage_retention_months": _non_negative_int,
    "region": str,
}


def _require_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not (parts.hostname or parts.path):
        raise SettingsError(f"{name}={url!r} is not a {schemes[0]}:// URL")
