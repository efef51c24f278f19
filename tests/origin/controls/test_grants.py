"""Key grants and cached answers reach Workers KV (the fake Cloudflare API) — or, with residency, don't."""

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openai.types.chat import ChatCompletionMessageParam

from origin.settings import Settings
from origin.stores import controls, postgres
from shared.edgekv import EdgeCacheEntry, KeyGrant, cache_name, key_name
from shared.fingerprint import fingerprint
from shared.keys import key_hash
from tests.fakes.cloudflare_api import FakeCloudflare
from tests.fakes.provider import FakeProvider
from tests.harness import running_origin
from tests.origin.helpers import client, gateway_settings

HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "publish me"}]


@pytest.fixture
async def cloudflare() -> AsyncIterator[tuple[FakeCloudflare, str]]:
    fake = FakeCloudflare()
    url = await fake.start()
    yield fake, url
    await fake.stop()


def _kv_settings(base: Settings, cloudflare: tuple[FakeCloudflare, str]) -> Settings:
    from dataclasses import replace

    fake, url = cloudflare
    return replace(
        base,
        cf_api_token=fake.token,
        cf_account_id=fake.account_id,
        cf_kv_namespace_id=fake.namespace_id,
        cf_api_base_url=url,
    )


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run in a thread: the fake Cloudflare API answers from this test's event loop."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PRISM_DATABASE_URL": settings.database_url,
        "PRISM_REDIS_URL": settings.redis_url,
        "PRISM_KEY_PEPPER": settings.key_pepper,
        "PRISM_CF_API_TOKEN": settings.cf_api_token or "",
        "PRISM_CF_ACCOUNT_ID": settings.cf_account_id or "",
        "PRISM_CF_KV_NAMESPACE_ID": settings.cf_kv_namespace_id or "",
        "PRISM_CF_API_BASE_URL": settings.cf_api_base_url or "",
    }
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.usefixtures("migrated")
async def test_cli_publishes_grants_on_create_revoke_and_residency_change(
    base_settings: Settings, cloudflare: tuple[FakeCloudflare, str]
) -> None:
    settings = _kv_settings(base_settings, cloudflare)
    project = f"kv-{uuid.uuid4().hex[:8]}"
    created = await asyncio.to_thread(
        _cli, settings, "keys", "create", "--project", project, "--org", "kv-org"
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert "warning" not in created.stderr, created.stderr
    name = key_name(key_hash(key, settings.key_pepper))
    grant = KeyGrant.from_json(cloudflare[0].values[name])
    assert grant.active and grant.edge_cache

    assert (
        await asyncio.to_thread(
            _cli, settings, "project", "set", project, "--org", "kv-org", "--edge-cache", "off"
        )
    ).returncode == 0
    assert not KeyGrant.from_json(cloudflare[0].values[name]).edge_cache

    assert (await asyncio.to_thread(_cli, settings, "keys", "revoke", key[:17])).returncode == 0
    assert not KeyGrant.from_json(cloudflare[0].values[name]).active


async def test_cacheable_misses_are_published_unless_the_project_keeps_answers_home(
    base_settings: Settings,
    pool: postgres.Pool,
    fake_server: tuple[FakeProvider, str],
    cloudflare: tuple[FakeCloudflare, str],
    tmp_path: Path,
) -> None:
    settings = gateway_settings(_kv_settings(base_settings, cloudflare), fake_server[1], tmp_path)
    pepper = settings.key_pepper
    global_key, global_project = await postgres.create_key(
        pool, project=f"g-{uuid.uuid4().hex[:6]}", org="kv", pepper=pepper
    )
    home_key, home_project = await postgres.create_key(
        pool, project=f"h-{uuid.uuid4().hex[:6]}", org="kv", pepper=pepper
    )
    await controls.update_project_settings(pool, home_project.project_id, {"edge_cache": "off"})
    async with running_origin(settings) as origin:
        for key in (global_key, home_key):
            await client(origin, key, cache=True).chat.completions.create(model="beta", messages=HELLO)
        await origin.state.kv.flush()
    published = cloudflare[0].values
    body = {"model": "beta", "messages": HELLO}
    entry = EdgeCacheEntry.from_json(published[cache_name(fingerprint(global_project.project_id, body))])
    assert entry.model == "beta" and entry.response["choices"][0]["message"]["content"] == "echo: publish me"
    assert cloudflare[0].entry(cache_name(fingerprint(global_project.project_id, body))) is not None
    assert cache_name(fingerprint(home_project.project_id, body)) not in published
    assert json.loads(published[cache_name(fingerprint(global_project.project_id, body))])["cost_cents"] > 0
