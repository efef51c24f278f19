"""Key authentication against real Postgres and Redis."""

import asyncio

import pytest
import redis.asyncio as redis

from origin.controls.auth import Authenticator, cache_key, forget_keys
from origin.http.errors import ApiError
from origin.settings import Settings
from origin.stores import postgres
from shared.keys import key_hash
from tests.clock import Clock


async def _reject(auth: Authenticator, header: str | None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await auth.authenticate(header)
    return caught.value


async def test_lookup_caches_in_redis_and_revocation_takes_effect(
    pool: postgres.Pool, redis_client: "redis.Redis", base_settings: Settings
) -> None:
    pepper = base_settings.key_pepper
    clock = Clock()
    auth = Authenticator(pool, redis_client, pepper=pepper, cache_seconds=4, clock=clock)
    key, record = await postgres.create_key(pool, project="auth-test", org="tests", pepper=pepper)
    assert (await auth.authenticate(f"Bearer {key}")).key_id == record.key_id
    assert await redis_client.get(cache_key(key_hash(key, pepper))) is not None

    revoked = await postgres.revoke_keys(pool, record.prefix)
    await forget_keys(redis_client, [item.key_hash for item in revoked])
    assert (await auth.authenticate(f"Bearer {key}")).active  # the in-process entry lives one second
    clock.now += 1.01
    assert (await _reject(auth, f"Bearer {key}")).code == "revoked_api_key"


async def test_malformed_and_unknown_keys(pool: postgres.Pool, redis_client: "redis.Redis") -> None:
    auth = Authenticator(pool, redis_client, pepper="p" * 16, cache_seconds=4)
    assert (await _reject(auth, None)).code == "missing_api_key"
    assert (await _reject(auth, "Token abc")).code == "missing_api_key"
    assert (await _reject(auth, "Bearer sk-123")).code == "invalid_api_key"
    unknown = await _reject(auth, "Bearer prism_sk_" + "z" * 43)
    assert (unknown.status, unknown.code) == (401, "invalid_api_key")


async def test_known_keys_survive_a_postgres_outage_unknown_ones_get_503(
    migrated: str, redis_client: "redis.Redis", base_settings: Settings
) -> None:
    pepper = base_settings.key_pepper
    own_pool = await postgres.create_pool(migrated, max_size=2)
    key, _ = await postgres.create_key(own_pool, project="outage", org="tests", pepper=pepper)
    clock = Clock()
    auth = Authenticator(own_pool, redis_client, pepper=pepper, cache_seconds=4, clock=clock)
    await auth.authenticate(f"Bearer {key}")
    await own_pool.close()  # every further Postgres lookup fails
    await redis_client.flushdb()
    clock.now += 60
    assert (await auth.authenticate(f"Bearer {key}")).active
    outage = await _reject(auth, "Bearer prism_sk_" + "y" * 43)
    assert (outage.status, outage.code) == (503, "auth_unavailable")


class HeldFinder:
    """``find_key`` on the real pool that counts its queries and can be held, like a hung Postgres."""

    def __init__(self) -> None:
        self.calls = 0
        self.answered = 0
        self.open = asyncio.Event()
        self.open.set()

    async def __call__(self, pool: postgres.Pool, hashed: str) -> postgres.KeyRecord | None:
        self.calls += 1
        await self.open.wait()
        record = await postgres.find_key(pool, hashed)
        self.answered += 1
        return record


async def test_concurrent_lookups_of_one_key_make_one_query(
    pool: postgres.Pool, redis_client: "redis.Redis", base_settings: Settings
) -> None:
    pepper = base_settings.key_pepper
    finder = HeldFinder()
    auth = Authenticator(pool, redis_client, pepper=pepper, cache_seconds=4, finder=finder)
    key, record = await postgres.create_key(pool, project="coalesce", org="tests", pepper=pepper)
    finder.open.clear()
    waiting = [asyncio.ensure_future(auth.authenticate(f"Bearer {key}")) for _ in range(25)]
    await asyncio.sleep(0.05)
    finder.open.set()
    found = await asyncio.gather(*waiting)
    assert {item.key_id for item in found} == {record.key_id}
    assert finder.calls == 1


async def test_a_hung_lookup_serves_known_keys_503s_unseen_ones_and_is_never_cancelled(
    pool: postgres.Pool, redis_client: "redis.Redis", base_settings: Settings
) -> None:
    pepper = base_settings.key_pepper
    clock, finder = Clock(), HeldFinder()
    auth = Authenticator(
        pool,
        redis_client,
        pepper=pepper,
        cache_seconds=4,
        clock=clock,
        finder=finder,
        lookup_timeout_seconds=0.1,
    )
    known, record = await postgres.create_key(pool, project="hung", org="tests", pepper=pepper)
    unseen, _ = await postgres.create_key(pool, project="hung", org="tests", pepper=pepper)
    await auth.authenticate(f"Bearer {known}")
    await redis_client.flushdb()
    finder.open.clear()  # Postgres stops answering
    clock.now += 60
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await auth.authenticate(f"Bearer {known}")).key_id == record.key_id
    assert (await auth.authenticate(f"Bearer {known}")).key_id == record.key_id  # no second wait
    outage = await _reject(auth, f"Bearer {unseen}")
    assert (outage.status, outage.code) == (503, "auth_unavailable")
    assert loop.time() - started < 0.5
    assert finder.calls == 3 and finder.answered == 1  # one query per key, both still out
    finder.open.set()  # Postgres answers again: the held lookups finish and refresh the entries
    await asyncio.sleep(0.1)
    assert finder.answered == 3
    assert (await auth.authenticate(f"Bearer {unseen}")).active
    assert finder.calls == 3
