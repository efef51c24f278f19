"""The erasure index on real Redis: lists that live as long as their longest entry, an erase that
deletes the listed entries (this instance's in-process copies too) and counts only what existed."""

import pytest
import redis.asyncio as redis

from origin.cache.erasure import CacheIndex, Selector, member, parse_selector, selectors
from origin.cache.exact import entry_key
from origin.cache.local import LocalEntries
from origin.cache.memory import SessionMemory
from origin.cache.singleflight import SingleFlight, lock_key
from origin.settings import Settings
from origin.stores.redis_scripts import ScriptRunner
from origin.usage.filters import FilterError
from tests.origin.cache.test_local import ENTRY
from tests.origin.stores.test_redis_scripts import CountingPool
from tests.redisserver import skip_on_cluster


async def test_an_erase_deletes_what_its_list_names_and_its_local_copies(redis_client: redis.Redis) -> None:
    local = LocalEntries(60)
    index = CacheIndex(redis_client, SessionMemory(redis_client), None, local=local)
    for fp in ("a", "b"):
        await redis_client.set(entry_key(fp), b"{}", ex=600)
        local.put(fp, b"{}", 600)
    await index.add("p1", selectors("s1", {"feature": "x"}), [member("exact", "a")], 60)
    await index.add("p1", selectors(None, None), [member("exact", "b")], 600)

    listed = "prism:cidx:{p1}:all"
    assert 590 <= await redis_client.ttl(listed) <= 600  # the longest entry's lifetime, never shortened
    assert await index.erase("p1", Selector("tag", "feature:x")) == {
        "exact": 1,
        "semantic": 0,
        "edge": 0,
        "memory": 0,
    }
    assert local.get("a") is None and local.get("b") == b"{}"
    assert await index.erase("p2", Selector("all")) == {"exact": 0, "semantic": 0, "edge": 0, "memory": 0}
    assert await index.erase("p1", Selector("all")) == {"exact": 1, "semantic": 0, "edge": 0, "memory": 0}
    assert not await redis_client.exists(entry_key("a"), entry_key("b"), listed)


async def test_without_redis_an_erase_says_so() -> None:
    away = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    index = CacheIndex(away, SessionMemory(away), None)
    await index.add("p1", selectors(None, None), [member("exact", "a")], 60)  # best effort: no error
    with pytest.raises((OSError, redis.RedisError)):
        await index.erase("p1", Selector("all"))
    await away.aclose()


def test_a_selector_is_one_of_session_tag_or_all() -> None:
    assert parse_selector([("session", "conv-1")]) == Selector("session", "conv-1")
    assert parse_selector([("tag", "feature:search")]) == Selector("tag", "feature:search")
    assert parse_selector([("all", "true")]) == Selector("all")
    for params in ([], [("all", "1")], [("tag", "x")], [("session", "a"), ("tag", "b:c")], [("id", "1")]):
        with pytest.raises(FilterError):
            parse_selector(params)


async def test_a_leaders_entry_and_its_listing_share_one_round_trip(base_settings: Settings) -> None:
    """What a miss's cache write relies on: both scripts are queued before either is awaited."""
    skip_on_cluster()
    pool = CountingPool.from_url(base_settings.redis_url)
    client = redis.Redis.from_pool(pool)
    scripts = ScriptRunner(client)
    flights = SingleFlight(client, scripts=scripts)
    index = CacheIndex(client, SessionMemory(client), None, scripts=scripts)
    try:
        for fp in ("fp-warm", "fp-together"):  # the first pair loads the scripts into Redis
            begun = await flights.begin(fp)
            assert begun.entry is None and begun.lock is not None
            pool.checkouts = 0

            written = flights.finish(fp, ENTRY, 60, begun.lock)
            listed = index.add("p-together", selectors(None, None), [member("exact", fp)], 60)
            assert await written
            await listed

        assert pool.checkouts == 1
        assert await client.exists(entry_key("fp-together"))
        assert not await client.exists(lock_key("fp-together"))  # the lock went with the write
        assert await client.sismember("prism:cidx:{p-together}:all", member("exact", "fp-together"))
    finally:
        await client.delete(entry_key("fp-warm"), entry_key("fp-together"), "prism:cidx:{p-together}:all")
        await client.aclose()
