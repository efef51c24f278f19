"""Key grants and cached answers reach Workers KV (the fake Cloudflare API) — or, with residency, don't."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from openai.types.chat import ChatCompletionMessageParam

from origin.config import config_digest, load_config
from origin.controls.generation import controls_generation
from origin.controls.grants import publish_project_grants, republish_stale_grants
from origin.controls.policy import DEFAULT_CONTROLS
from origin.settings import Settings
from origin.stores import controls, postgres
from origin.stores.kv import KVPublisher
from shared.edgekv import EdgeCacheEntry, KeyGrant, cache_name, key_name
from shared.fingerprint import fingerprint
from shared.keys import key_hash
from tests.fakes.cloudflare_api import FakeCloudflare
from tests.fakes.provider import FakeProvider
from tests.harness import running_origin
from tests.origin.helpers import client, gateway_settings, run_cli

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


@pytest.mark.usefixtures("migrated")
async def test_cli_publishes_grants_on_create_revoke_and_residency_change(
    base_settings: Settings, cloudflare: tuple[FakeCloudflare, str]
) -> None:
    settings = _kv_settings(base_settings, cloudflare)
    project = f"kv-{uuid.uuid4().hex[:8]}"
    created = await asyncio.to_thread(
        run_cli, settings, "keys", "create", "--project", project, "--org", "kv-org"
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert "warning" not in created.stderr, created.stderr
    name = key_name(key_hash(key, settings.key_pepper))
    grant = KeyGrant.from_json(cloudflare[0].values[name])
    assert grant.active and grant.edge_cache

    assert (
        await asyncio.to_thread(
            run_cli, settings, "project", "set", project, "--org", "kv-org", "--edge-cache", "off"
        )
    ).returncode == 0
    assert not KeyGrant.from_json(cloudflare[0].values[name]).edge_cache

    assert (await asyncio.to_thread(run_cli, settings, "keys", "revoke", key[:17])).returncode == 0
    assert not KeyGrant.from_json(cloudflare[0].values[name]).active


def _generation(fake: FakeCloudflare, key: str, pepper: str) -> str:
    return KeyGrant.from_json(fake.values[key_name(key_hash(key, pepper))]).generation


@pytest.mark.usefixtures("migrated")
async def test_cli_policy_and_setting_changes_move_the_grants_generation(
    base_settings: Settings, pool: postgres.Pool, cloudflare: tuple[FakeCloudflare, str]
) -> None:
    settings, fake = _kv_settings(base_settings, cloudflare), cloudflare[0]
    org = f"gen-{uuid.uuid4().hex[:8]}"

    async def cli(*args: str) -> str:
        done = await asyncio.to_thread(run_cli, settings, *args)
        assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
        return done.stdout.strip().splitlines()[-1]

    web = await cli("keys", "create", "--project", "web", "--org", org)
    api = await cli("keys", "create", "--project", "api", "--org", org)
    ref = await controls.find_project(pool, org=org, project="web")
    assert ref is not None
    # The CLI's generation is the one the origin computes (here both read the example config).
    digest = config_digest(load_config(None, {}))
    expected = controls_generation(await controls.load_controls(pool, ref.org_id, ref.project_id), digest)
    start = _generation(fake, web, settings.key_pepper)
    assert start == expected

    rule = await cli("policy", "add", "--project", "web", "--org", org, "--deny-model", "beta")
    denied = _generation(fake, web, settings.key_pepper)
    assert denied != start and _generation(fake, api, settings.key_pepper) == start  # only web's rules
    await cli("policy", "remove", rule)
    assert _generation(fake, web, settings.key_pepper) == start  # the same rules again

    org_rule = await cli("policy", "add", "--org", org, "--max-tokens", "50")
    assert start not in {_generation(fake, key, settings.key_pepper) for key in (web, api)}
    await cli("policy", "remove", org_rule)
    assert {_generation(fake, key, settings.key_pepper) for key in (web, api)} == {start}

    await cli("project", "set", "web", "--org", org, "--cache-ttl", "120")
    assert _generation(fake, web, settings.key_pepper) not in {start, denied}


async def test_start_up_republish_is_idempotent_across_origins_and_follows_the_config(
    base_settings: Settings,
    pool: postgres.Pool,
    redis_client: "redis.Redis",
    cloudflare: tuple[FakeCloudflare, str],
) -> None:
    fake = cloudflare[0]
    kv = KVPublisher.from_settings(_kv_settings(base_settings, cloudflare))
    pepper = base_settings.key_pepper
    keys = [
        (await postgres.create_key(pool, project=f"r-{uuid.uuid4().hex[:6]}", org="re", pepper=pepper))[0]
        for _ in range(2)
    ]
    try:
        # N origins starting together: each stale project's keys are written once, by one of them.
        first = await asyncio.gather(
            *(
                republish_stale_grants(pool, kv, redis_client, config_digest="a" * 64, claim_seconds=3)
                for _ in range(3)
            )
        )
        written = fake.count("PUT")
        assert sum(first) >= 2 and written >= 2
        generations = {_generation(fake, key, pepper) for key in keys}
        assert generations == {controls_generation(DEFAULT_CONTROLS, "a" * 64)}  # no rules, defaults
        put_names = [call.name for call in fake.calls if call.method == "PUT"]
        assert len(put_names) == len(set(put_names))  # never the same grant twice
        # A restart on the same config: nothing to write.
        assert await republish_stale_grants(pool, kv, redis_client, config_digest="a" * 64) == 0
        assert fake.count("PUT") == written
        # A restart on a config that routes differently: every grant moves.
        assert await republish_stale_grants(pool, kv, redis_client, config_digest="b" * 64) >= 2
        assert {_generation(fake, key, pepper) for key in keys}.isdisjoint(generations)
    finally:
        await kv.stop()


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
        digest = config_digest(origin.state.config)
        await publish_project_grants(pool, origin.state.kv, global_project.project_id, config_digest=digest)
    published = cloudflare[0].values
    body = {"model": "beta", "messages": HELLO}
    entry = EdgeCacheEntry.from_json(published[cache_name(fingerprint(global_project.project_id, body))])
    assert entry.model == "beta" and entry.response["choices"][0]["message"]["content"] == "echo: publish me"
    assert entry.generation == _generation(cloudflare[0], global_key, pepper) != ""  # servable at the edge
    assert cloudflare[0].entry(cache_name(fingerprint(global_project.project_id, body))) is not None
    assert cache_name(fingerprint(home_project.project_id, body)) not in published
    assert json.loads(published[cache_name(fingerprint(global_project.project_id, body))])["cost_cents"] > 0
