"""Requests per minute on real Redis: a sliding window shared by every instance."""

import asyncio

import pytest
import redis.asyncio as redis

from origin.controls.limits import RateDecision, RateLimiter
from origin.controls.limits.ratelimit import ratelimit_key
from tests.clock import Clock
from tests.origin.controls.limits.conftest import MID_JANUARY


async def test_n_allowed_then_refused_until_the_oldest_leaves_the_window(redis_client: "redis.Redis") -> None:
    clock = Clock(MID_JANUARY)
    limiter = RateLimiter(redis_client, clock=clock)
    for remaining in (4, 3, 2, 1, 0):
        assert await limiter.hit("key-a", 5) == RateDecision(allowed=True, retry_after=0, remaining=remaining)
        clock.now += 1
    clock.now -= 0.5  # 4.5 s after the first request
    assert await limiter.hit("key-a", 5) == RateDecision(allowed=False, retry_after=56, remaining=0)
    clock.now = MID_JANUARY + 59.999
    assert await limiter.hit("key-a", 5) == RateDecision(allowed=False, retry_after=1, remaining=0)
    assert await redis_client.zcard(ratelimit_key("key-a")) == 5  # refusals are not counted

    clock.now = MID_JANUARY + 60  # the first request has left the window
    assert await limiter.hit("key-a", 5) == RateDecision(allowed=True, retry_after=0, remaining=0)
    assert (await limiter.hit("key-a", 5)).retry_after == 1  # the second leaves at +61 s


async def test_the_window_resets_and_keys_are_independent(redis_client: "redis.Redis") -> None:
    clock = Clock(MID_JANUARY)
    limiter = RateLimiter(redis_client, clock=clock)
    for _ in range(3):
        await limiter.hit("key-a", 3)
    assert not (await limiter.hit("key-a", 3)).allowed
    assert (await limiter.hit("key-b", 3)).remaining == 2
    clock.now += 60
    assert await limiter.hit("key-a", 3) == RateDecision(allowed=True, retry_after=0, remaining=2)


async def test_a_lowered_limit_waits_for_enough_entries_to_leave(redis_client: "redis.Redis") -> None:
    clock = Clock(MID_JANUARY)
    limiter = RateLimiter(redis_client, clock=clock)
    for _ in range(5):
        await limiter.hit("key-a", 5)
        clock.now += 2
    decision = await limiter.hit("key-a", 3)  # 3 of the 5 must leave: the third, sent at +4 s
    assert decision == RateDecision(allowed=False, retry_after=54, remaining=0)


async def test_instances_share_one_limit(redis_client: "redis.Redis", instances: list["redis.Redis"]) -> None:
    clock = Clock(MID_JANUARY)
    limiters = [RateLimiter(client, clock=clock) for client in instances]
    decisions = await asyncio.gather(*(limiters[i % 2].hit("shared", 10) for i in range(60)))
    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))
    assert all(d.retry_after == 60 for d in decisions if not d.allowed)
    assert await redis_client.zcard(ratelimit_key("shared")) == 10


async def test_a_limit_below_one_is_a_caller_bug(redis_client: "redis.Redis") -> None:
    with pytest.raises(ValueError):
        await RateLimiter(redis_client).hit("key-a", 0)
