"""Helpers for gateway tests: a client, and the usage row a request left behind."""

import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import openai

from origin.settings import Settings
from origin.stores import postgres
from shared.usage import UsageRow
from tests.harness import RunningOrigin


def client(origin: RunningOrigin, key: str, *, cache: bool = False, **headers: str) -> openai.AsyncOpenAI:
    """An official client; unless ``cache`` is set it sends ``Cache-Control: no-store`` so that every
    request reaches the upstream (tests of the cache itself opt in)."""
    if not cache:
        headers = {"Cache-Control": "no-store", **headers}
    return openai.AsyncOpenAI(
        base_url=origin.url + "/v1", api_key=key, max_retries=0, timeout=20, default_headers=headers or None
    )


def run_cli(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``prism ARGS`` as a process with exactly these settings' stores, Workers KV and config.

    Run it in a thread when a fake (Cloudflare, provider) answers from the test's event loop."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PRISM_DATABASE_URL": settings.database_url,
        "PRISM_REDIS_URL": settings.redis_url,
        "PRISM_KEY_PEPPER": settings.key_pepper,
        "PRISM_INGEST_SECRET": settings.ingest_secret,
        "PRISM_DASHBOARD_SECRET": settings.dashboard_secret,
        "PRISM_CF_API_TOKEN": settings.cf_api_token or "",
        "PRISM_CF_ACCOUNT_ID": settings.cf_account_id or "",
        "PRISM_CF_KV_NAMESPACE_ID": settings.cf_kv_namespace_id or "",
        "PRISM_CF_API_BASE_URL": settings.cf_api_base_url or "",
        "PRISM_LOCAL_CACHE_SECONDS": str(settings.local_cache_seconds),
    }
    if settings.region is not None:
        env["PRISM_REGION"] = settings.region
    if settings.config_path is not None:
        env["PRISM_CONFIG_PATH"] = str(settings.config_path)
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def edge_usage_row(record: postgres.KeyRecord, **changes: Any) -> UsageRow:
    """A usage row as the edge builds it for a cache hit of ``record``'s key."""
    fields: dict[str, Any] = {
        "cache_status": "hit-exact-edge",
        "provider": "cache",
        "model_used": "alpha",
        "cache_saved_cents": 0.0042,
        "edge_region": "SIN",
        "session_id": "edge-session",
        "request_tags": {"feature": "edge"},
    }
    return UsageRow(
        org_id=record.org_id, project_id=record.project_id, key_id=record.key_id, **(fields | changes)
    )


async def usage_row(origin: RunningOrigin, pool: postgres.Pool, request_id: str) -> dict[str, Any]:
    rows = await usage_rows(origin, pool, request_id)
    assert len(rows) == 1, f"expected exactly one usage row for {request_id}, found {len(rows)}"
    return rows[0]


async def usage_rows(origin: RunningOrigin, pool: postgres.Pool, request_id: str) -> list[dict[str, Any]]:
    await origin.state.writer.flush()
    records = await pool.fetch("SELECT * FROM usage_logs WHERE request_id = $1", request_id)
    return [dict(record) for record in records]


GATEWAY_CONFIG = """
[providers.fakeoai]
kind = "openai"
base_url = "{url}/v1"

[providers.fakeant]
kind = "anthropic"
base_url = "{url}"

[providers.fakeresp]
kind = "openai"
base_url = "{url}/v1"
responses_api = true

[models.alpha]
provider = "fakeoai"
price = {{ input = 1.0, cached_input = 0.5, output = 2.0 }}
fallbacks = ["beta"]

[models.beta]
provider = "fakeoai"
price = {{ input = 0.5, output = 1.0 }}

[models.claude]
provider = "fakeant"
upstream_model = "claude-up"
price = {{ input = 3.0, cached_input = 0.3, cache_write = 3.75, output = 15.0 }}

[models.omni]
provider = "fakeresp"
upstream_model = "omni-up"
price = {{ input = 1.0, cached_input = 0.5, output = 2.0 }}
fallbacks = ["claude"]

[models.embed-small]
provider = "fakeoai"
endpoint = "embeddings"
upstream_model = "fake-embed"
price = {{ input = 0.02 }}
fallbacks = ["embed-backup"]

[models.embed-backup]
provider = "fakeoai"
endpoint = "embeddings"
upstream_model = "fake-embed-backup"
price = {{ input = 0.1 }}

[models.flaky]
provider = "fakeoai"
price = {{ input = 1.0, output = 1.0 }}
fallbacks = ["beta"]

[models.breaker]
provider = "fakeoai"
price = {{ input = 1.0, output = 1.0 }}
fallbacks = ["beta"]

[models.lonely]
provider = "fakeoai"
price = {{ input = 1.0, output = 1.0 }}

[models.dead]
provider = "nowhere"
price = {{ input = 1.0, output = 1.0 }}

[providers.nowhere]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[cache]
single_flight_wait_seconds = 10.0

[semantic]
provider = "fakeoai"
model = "fake-embed"

[routing.modes]
cheap = ["beta", "alpha"]
balanced = ["alpha", "claude"]
quality = ["claude", "alpha"]

[routing.aliases]
fast = "beta"

[timeouts]
connect = 0.5
first_byte = 0.6
idle = 0.6

[retries]
attempts = 2
backoff_base = 0.01
backoff_max = 0.05

[breaker]
failure_threshold = 2
cooldown_seconds = 0.5
"""


def gateway_settings(base: Settings, fake_url: str, directory: Path, **changes: Any) -> Settings:
    """Settings for an origin in front of the fake provider, with its own config file and spool."""
    config = directory / "prism.toml"
    config.write_text(GATEWAY_CONFIG.format(url=fake_url))
    return replace(
        base,
        config_path=config,
        spool_dir=directory / "spool",
        provider_api_keys={
            "fakeoai": "sk-fake-openai",
            "fakeresp": "sk-fake-openai",
            "fakeant": "sk-fake-anthropic",
        },
        **changes,
    )


async def fresh_project(
    origin: RunningOrigin, pool: postgres.Pool, org: str
) -> tuple[str, postgres.KeyRecord]:
    """A new project of ``org`` (so no instance has its controls cached yet) and a key for it."""
    name = f"{org}-{uuid.uuid4().hex[:8]}"
    return await postgres.create_key(pool, project=name, org=org, pepper=origin.state.settings.key_pepper)
