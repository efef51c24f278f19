"""The exact cache's hot entries in process memory: kept no longer than the shorter of its seconds
and the entry's TTL, bounded, and in front of Redis in single-flight's read."""

import dataclasses

import redis.asyncio as redis

from origin.cache.exact import CacheEntry, ExactCache, entry_key
from origin.cache.local import LocalEntries
from origin.cache.singleflight import SingleFlight
from origin.providers.base import Usage
from tests.clock import Clock

ENTRY = CacheEntry.build(
    {"id": "chatcmpl-1", "choices": [{"message": {"content": "hi"}}]},
    model="alpha",
    provider="oai",
    route_head="alpha",
    usage=Usage(tokens_in=3, tokens_out=1),
    cost_cents=0.01,
)


def test_an_entry_is_kept_for_the_shorter_of_the_caches_seconds_and_its_ttl() -> None:
    clock = Clock()
    local = LocalEntries(1.0, clock=clock)
    local.put("long", b"L", ttl_seconds=60)
    local.put("short", b"S", ttl_seconds=0.25)

    clock.now += 0.2
    assert (local.get("long"), local.get("short")) == (b"L", b"S")
    clock.now += 0.1
    assert (local.get("long"), local.get("short")) == (b"L", None)
    clock.now += 0.8
    assert local.get("long") is None


def test_it_holds_at_most_its_size_dropping_the_least_recently_read() -> None:
    local = LocalEntries(1.0, max_entries=2, clock=Clock())
    local.put("a", b"A", 60)
    local.put("b", b"B", 60)
    assert local.get("a") == b"A"
    local.put("c", b"C", 60)
    assert (local.get("a"), local.get("b"), local.get("c")) == (b"A", None, b"C")


def test_an_entry_it_may_not_keep_drops_the_older_copy() -> None:
    local = LocalEntries(1.0, max_entry_bytes=4, clock=Clock())
    local.put("a", b"old", 60)
    local.put("a", b"too large", 60)
    assert local.get("a") is None
    off = LocalEntries(0, clock=Clock())
    off.put("a", b"A", 60)
    assert off.get("a") is None


async def test_single_flight_reads_this_processs_copy_before_redis(redis_client: "redis.Redis") -> None:
    clock = Clock()
    flights = SingleFlight(redis_client, local=LocalEntries(1.0, clock=clock))
    begun = await flights.begin("fp-1")
    assert begun.entry is None and begun.lock is not None
    assert await flights.finish("fp-1", ENTRY, 60, begun.lock)
    await redis_client.delete(entry_key("fp-1"))  # e.g. another origin's Redis was flushed

    kept = await flights.begin("fp-1")
    again = await flights.begin("fp-1")
    assert kept.entry == ENTRY and kept.lock is None
    assert again.entry is not None and again.entry.response is not kept.entry.response  # parsed per read

    clock.now += 1.5
    expired = await flights.begin("fp-1")
    assert expired.entry is None and expired.lock is not None


async def test_an_entry_read_from_redis_is_kept_no_longer_than_redis_keeps_it(
    redis_client: "redis.Redis",
) -> None:
    clock = Clock()
    flights = SingleFlight(redis_client, local=LocalEntries(1.0, clock=clock))
    await redis_client.set(entry_key("fp-2"), ENTRY.to_json(), px=300)

    assert (await flights.begin("fp-2")).entry == ENTRY
    await redis_client.delete(entry_key("fp-2"))
    clock.now += 0.2
    assert (await flights.begin("fp-2")).entry == ENTRY
    clock.now += 0.2
    assert (await flights.begin("fp-2")).entry is None


async def test_a_no_cache_refresh_replaces_this_processs_copy(redis_client: "redis.Redis") -> None:
    local = LocalEntries(1.0, clock=Clock())
    flights, cache = SingleFlight(redis_client, local=local), ExactCache(redis_client, local=local)
    begun = await flights.begin("fp-3")
    assert begun.lock is not None
    await flights.finish("fp-3", ENTRY, 60, begun.lock)

    refreshed = dataclasses.replace(ENTRY, response={**ENTRY.response, "id": "chatcmpl-2"})
    assert await cache.put("fp-3", refreshed, 60)

    assert (await flights.begin("fp-3")).entry == refreshed
