"""The sign-in throttle on a real Redis: per address and per IP, each with its own count and window."""

import asyncio

import redis.asyncio as redis

from origin.dashboard.throttle import SignInThrottle


async def test_an_address_is_refused_past_the_limit_from_any_ip(redis_client: "redis.Redis") -> None:
    throttle = SignInThrottle(redis_client, limit=3, window_seconds=60)
    assert [await throttle.admit("Ada@Example.com", f"10.0.0.{i}") for i in range(4)] == [True] * 3 + [False]
    assert not await throttle.admit("ada@example.com", "10.0.0.9")  # the same address, whatever its case
    assert await throttle.admit("bob@example.com", "10.0.0.9")


async def test_an_ip_is_refused_past_the_limit_for_any_address(redis_client: "redis.Redis") -> None:
    throttle = SignInThrottle(redis_client, limit=3, window_seconds=60)
    assert [await throttle.admit(f"u{i}@example.com", "192.0.2.1") for i in range(4)] == [True] * 3 + [False]
    assert await throttle.admit("u9@example.com", "192.0.2.2")
    assert not [key async for key in redis_client.scan_iter("*example.com*")]  # addresses stored hashed


async def test_the_count_starts_again_after_the_window(redis_client: "redis.Redis") -> None:
    throttle = SignInThrottle(redis_client, limit=1, window_seconds=1)
    assert await throttle.admit("c@example.com", "198.51.100.1")
    assert not await throttle.admit("c@example.com", "198.51.100.1")
    await asyncio.sleep(1.2)
    assert await throttle.admit("c@example.com", "198.51.100.1")


async def test_parallel_attempts_cannot_outrun_the_count(redis_client: "redis.Redis") -> None:
    throttle = SignInThrottle(redis_client, limit=5, window_seconds=60)
    admitted = await asyncio.gather(*(throttle.admit("d@example.com", "203.0.113.1") for _ in range(20)))
    assert sum(admitted) == 5
