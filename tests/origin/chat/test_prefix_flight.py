"""Prefix single-flight on real Redis: which prefix is guarded, who leads, who waits and for how long."""

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as redis

from origin.chat.prefix_flight import Prefix, PrefixFlights, long_prefix
from origin.ops.metrics import Metrics
from origin.providers.base import ModelConfig, Price

SYSTEM = "s" * 4100  # 1,025 tokens
SONNET = ModelConfig(name="claude", provider="ant", upstream_model="claude-sonnet-4-5", price=Price(3, 15))
HAIKU = ModelConfig(name="haiku", provider="ant", upstream_model="claude-haiku-4-5", price=Price(1, 5))
GPT = ModelConfig(name="gpt", provider="oai", upstream_model="gpt-5", price=Price(1, 8))


def _body(system: str = SYSTEM, question: str = "hi", **fields: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    return {"messages": messages, **fields}


def test_the_prefix_is_the_tools_and_leading_system_messages_of_one_project_and_model() -> None:
    first = long_prefix("p1", _body(question="one"), SONNET, "anthropic")
    assert first is not None and first.tokens == 1025
    assert long_prefix("p1", _body(question="two"), SONNET, "anthropic") == first
    assert long_prefix("p2", _body(), SONNET, "anthropic") != first
    assert long_prefix("p1", _body(), GPT, "openai") not in (None, first)
    assert long_prefix(
        "p1", _body(tools=[{"type": "function", "function": {"name": "t"}}]), SONNET, "anthropic"
    ) not in (
        None,
        first,
    )
    late_system = {"messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": SYSTEM}]}
    assert long_prefix("p1", late_system, SONNET, "anthropic") is None  # not a prefix: after a user turn


def test_a_prefix_under_the_models_minimum_is_not_guarded() -> None:
    assert long_prefix("p1", _body(system=SYSTEM[:4000]), SONNET, "anthropic") is None
    assert long_prefix("p1", _body(), HAIKU, "anthropic") is None  # 2,048 for Haiku
    assert long_prefix("p1", _body(system=SYSTEM * 2), HAIKU, "anthropic") is not None


PREFIX = Prefix("f" * 32, 2000)


async def _writer(flights: PrefixFlights, log: list[str], name: str, seconds: float) -> None:
    async with flights.around(PREFIX):
        log.append(f"{name} calls")
        await asyncio.sleep(seconds)
    log.append(f"{name} answered")


async def test_the_first_leads_the_others_wait_for_its_answer_then_the_warm_prefix_never_waits(
    redis_client: redis.Redis,
) -> None:
    metrics = Metrics()
    flights = PrefixFlights(redis_client, metrics, wait_seconds=5)
    log: list[str] = []
    await asyncio.gather(_writer(flights, log, "a", 0.2), *(_writer(flights, log, n, 0) for n in "bcd"))
    assert log[:2] == ["a calls", "a answered"]
    assert sorted(log[2:]) == ["b answered", "b calls", "c answered", "c calls", "d answered", "d calls"]

    started = time.monotonic()
    await asyncio.gather(*(_writer(flights, log, n, 0) for n in "efg"))
    assert time.monotonic() - started < 0.5
    outcomes = {
        outcome: metrics.registry.get_sample_value("prism_prefix_flights_total", {"outcome": outcome})
        for outcome in ("lead", "waited", "warm", "timeout")
    }
    assert outcomes == {"lead": 1.0, "waited": 3.0, "warm": 3.0, "timeout": None}
    assert 290 <= await redis_client.ttl(PREFIX.keys[0]) <= 300
    assert not await redis_client.exists(PREFIX.keys[1])


async def test_a_leader_that_fails_releases_the_others_at_once_and_marks_nothing_warm(
    redis_client: redis.Redis,
) -> None:
    flights = PrefixFlights(redis_client, Metrics(), wait_seconds=5)

    async def failing() -> None:
        async with flights.around(PREFIX):
            await asyncio.sleep(0.1)
            raise RuntimeError("upstream refused")

    started = time.monotonic()
    results = await asyncio.gather(failing(), _writer(flights, [], "b", 0), return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and results[1] is None
    assert time.monotonic() - started < 2  # not the 5 s bound
    assert await redis_client.exists(PREFIX.keys[0])  # b's answer made it warm

    await redis_client.delete(PREFIX.keys[0])
    with pytest.raises(RuntimeError):
        await failing()
    assert not await redis_client.exists(*PREFIX.keys)  # a failure warms nothing and leaves no lock


async def test_a_leader_that_never_answers_holds_nobody_past_the_bound(redis_client: redis.Redis) -> None:
    flights = PrefixFlights(redis_client, Metrics(), wait_seconds=0.3)
    leader = asyncio.create_task(_writer(flights, [], "a", 30))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await _writer(flights, [], "b", 0)
    assert 0.2 <= time.monotonic() - started < 2
    await asyncio.sleep(0.3)  # the lock lived no longer than the bound: a later request leads at once
    started = time.monotonic()
    await _writer(flights, [], "c", 0)
    assert time.monotonic() - started < 0.2
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_without_redis_nobody_waits() -> None:
    away = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    flights = PrefixFlights(away, Metrics(), wait_seconds=5)
    log: list[str] = []
    started = time.monotonic()
    await asyncio.gather(_writer(flights, log, "a", 0.2), _writer(flights, log, "b", 0.2))
    assert time.monotonic() - started < 2
    assert log[:2] == ["a calls", "b calls"]
    await away.aclose()
