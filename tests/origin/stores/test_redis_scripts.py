"""Lua scripts in batches, on a real Redis: calls made together share one round trip, and each caller
still gets its own answer, its own error, or its own cancellation."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from origin.settings import Settings
from origin.stores.redis_multiplex import Address, Multiplexer
from origin.stores.redis_scripts import BatchedScript, ScriptRunner
from tests.redisserver import ON_CLUSTER, single_node_only, skip_on_cluster

INCR_BY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
REFUSE_NEGATIVE = "if tonumber(ARGV[1]) < 0 then return redis.error_reply('negative') end return ARGV[1]"
SLOW_ECHO = """
local t = redis.call('TIME')
repeat local n = redis.call('TIME') until (n[1] - t[1]) * 1000000 + n[2] - t[2] > 50000
return ARGV[1]
"""


def runner(client: "redis.Redis", mode: str) -> ScriptRunner:
    """Batches through redis-py's pool, or written to one shared connection."""
    if mode == "pool":
        return ScriptRunner(client)
    address = Address.of(client)
    assert address is not None
    return ScriptRunner(client, Multiplexer(address))


MODES = pytest.mark.parametrize("mode", ["pool"] if ON_CLUSTER else ["pool", "multiplexed"])


class CountingPool(redis.ConnectionPool):
    checkouts = 0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.checkouts += 1
        return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]


@pytest.fixture
async def counted(base_settings: Settings) -> AsyncIterator[tuple["redis.Redis", CountingPool]]:
    skip_on_cluster()
    pool = CountingPool.from_url(base_settings.redis_url)
    client = redis.Redis.from_pool(pool)
    yield client, pool
    await client.aclose()


Counted = tuple[BatchedScript, "redis.Redis", CountingPool]


@pytest.fixture
async def pooled_incr(counted: tuple["redis.Redis", CountingPool]) -> Counted:
    """``INCR_BY`` batched through the counted pool, loaded into Redis, the count back at zero."""
    client, pool = counted
    incr = ScriptRunner(client).register(INCR_BY)
    await client.script_load(INCR_BY)
    pool.checkouts = 0
    return incr, client, pool


async def test_calls_made_together_share_one_round_trip_and_get_their_own_answers(
    pooled_incr: Counted,
) -> None:
    incr, client, pool = pooled_incr

    answers = await asyncio.gather(*(incr(keys=[f"scripts-test:{n % 3}"], args=[n]) for n in range(9)))

    assert pool.checkouts == 1
    assert answers == [0, 1, 2, 3, 5, 7, 9, 12, 15]  # per key, in call order: 0+3+6, 1+4+7, 2+5+8
    assert await client.mget([f"scripts-test:{n}" for n in range(3)]) == [b"9", b"12", b"15"]


async def test_calls_made_later_go_in_the_next_batch(pooled_incr: Counted) -> None:
    incr, _, pool = pooled_incr

    assert await incr(keys=["scripts-test:later"], args=[1]) == 1
    assert await incr(keys=["scripts-test:later"], args=[1]) == 2
    assert pool.checkouts == 2


async def test_calls_started_before_any_is_awaited_share_one_round_trip(pooled_incr: Counted) -> None:
    incr, _, pool = pooled_incr

    started = [incr.start(keys=["scripts-test:started"], args=[n]) for n in (1, 2, 3)]
    answers = [await answer for answer in started]  # no gather, no task: queued when started

    assert answers == [1, 3, 6]
    assert pool.checkouts == 1


async def test_multiplexed_calls_take_no_connection_from_the_pool(
    counted: tuple["redis.Redis", CountingPool],
) -> None:
    client, pool = counted
    scripts = runner(client, "multiplexed")
    incr = scripts.register(INCR_BY)
    await client.script_load(INCR_BY)
    pool.checkouts = 0
    try:
        first = await asyncio.gather(*(incr(keys=[f"scripts-mux:{n % 3}"], args=[n]) for n in range(9)))
        later = [await incr(keys=["scripts-mux:0"], args=[1]) for _ in range(3)]
    finally:
        scripts.close()

    assert first == [0, 1, 2, 3, 5, 7, 9, 12, 15] and later == [10, 11, 12]
    assert pool.checkouts == 0


@MODES
async def test_a_script_error_is_its_own_callers_alone(redis_client: "redis.Redis", mode: str) -> None:
    scripts = runner(redis_client, mode)
    refuse, incr = scripts.register(REFUSE_NEGATIVE), scripts.register(INCR_BY)

    results = await asyncio.gather(
        refuse(args=[1]), refuse(args=[-1]), incr(keys=["scripts-test:k"], args=[4]), return_exceptions=True
    )

    assert results[0] == b"1"
    assert isinstance(results[1], ResponseError) and "negative" in str(results[1])
    assert results[2] == 4


@MODES
async def test_scripts_redis_forgot_are_loaded_again(redis_client: "redis.Redis", mode: str) -> None:
    incr = runner(redis_client, mode).register(INCR_BY)
    assert await incr(keys=["scripts-test:flushed"], args=[1]) == 1

    await redis_client.script_flush()
    assert await incr(keys=["scripts-test:flushed"], args=[1]) == 2  # a lone call
    await redis_client.script_flush()
    answers = await asyncio.gather(*(incr(keys=["scripts-test:flushed"], args=[1]) for _ in range(3)))

    assert sorted(answers) == [3, 4, 5]  # each ran once: none lost, none run twice
    assert await redis_client.script_exists(incr.sha) == [True]


@MODES
async def test_a_caller_that_stops_waiting_costs_the_others_nothing(
    redis_client: "redis.Redis", mode: str
) -> None:
    slow = runner(redis_client, mode).register(SLOW_ECHO)

    async def impatient() -> object:
        async with asyncio.timeout(0.01):
            return await slow(args=["gone"])

    results = await asyncio.gather(impatient(), slow(args=["kept"]), return_exceptions=True)

    assert isinstance(results[0], TimeoutError)
    assert results[1] == b"kept"
    assert await slow(args=["after"]) == b"after"  # the late reply went to no one else


@MODES
async def test_each_call_in_a_batch_keeps_its_own_deadline(redis_client: "redis.Redis", mode: str) -> None:
    slow = runner(redis_client, mode).register(SLOW_ECHO)  # Redis spends 50 ms on each
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def timed(name: str, timeout: float) -> tuple[object, float]:
        try:
            result: object = await slow(args=[name], timeout=timeout)
        except TimeoutError as error:
            result = error
        return result, loop.time() - started

    (short, short_after), (long, _) = await asyncio.gather(timed("short", 0.01), timed("long", 2.0))

    assert isinstance(short, TimeoutError) and 0.01 <= short_after < 0.045  # before Redis answered
    assert long == b"long"
    assert await slow(args=["after"], timeout=2.0) == b"after"  # the late reply went to no one else


@pytest.fixture
async def frozen_redis() -> AsyncIterator[str]:
    """A server that accepts connections and reads them, and never answers (a frozen Redis)."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in held:
        writer.close()
    server.close()


@MODES
async def test_a_frozen_redis_is_a_timeout_not_a_hang(frozen_redis: str, mode: str) -> None:
    client = redis.Redis.from_url(frozen_redis)
    incr = runner(client, mode).register(INCR_BY)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(
                *(incr(keys=["k"], args=[1], timeout=0.05) for _ in range(3)), return_exceptions=True
            ),
            2,
        )
    finally:
        await client.aclose()

    assert all(isinstance(result, TimeoutError) for result in results), results


@MODES
async def test_without_redis_every_caller_gets_the_connection_error(mode: str) -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    incr = runner(client, mode).register(INCR_BY)
    try:
        results = await asyncio.gather(
            *(incr(keys=["k"], args=[1]) for _ in range(3)), return_exceptions=True
        )
    finally:
        await client.aclose()

    assert all(isinstance(result, RedisConnectionError) for result in results)


@single_node_only
async def test_a_batch_that_cannot_be_written_fails_its_callers_at_once(redis_client: "redis.Redis") -> None:
    class Unwritable(Multiplexer):
        def send(self, commands: Any, replies: Any) -> None:
            raise RuntimeError("unable to perform operation: the handler is closed")

    address = Address.of(redis_client)
    assert address is not None
    scripts = ScriptRunner(redis_client, Unwritable(address))
    incr = scripts.register(INCR_BY)
    try:
        for _ in range(2):  # connecting first, then on the open connection
            results = await asyncio.wait_for(
                asyncio.gather(*(incr(keys=["k"], args=[1]) for _ in range(3)), return_exceptions=True), 2
            )
            assert all(isinstance(result, RuntimeError) for result in results)
    finally:
        scripts.close()
