"""The origin's Redis pool, on a real Redis: past its size commands wait, and a caller's deadline
cancels its wait without losing anyone's turn."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from origin.settings import Settings
from origin.stores.redis_pool import WaitingConnectionPool

NAME = "prism-pool-test"


@pytest.fixture
async def pool(base_settings: Settings, redis_client: "redis.Redis") -> AsyncIterator[WaitingConnectionPool]:
    pool = WaitingConnectionPool.from_url(base_settings.redis_url, max_connections=2, client_name=NAME)
    yield pool
    await pool.disconnect()


async def _connections_named(observer: "redis.Redis") -> int:
    clients = await observer.client_list()
    return sum(1 for client in clients if client.get("name") == NAME)


async def test_commands_past_the_pools_size_wait_for_a_connection(
    pool: WaitingConnectionPool, redis_client: "redis.Redis"
) -> None:
    client = redis.Redis.from_pool(pool)
    most = 0

    async def hold(n: int) -> object:
        nonlocal most
        most = max(most, await _connections_named(redis_client))
        return await client.blpop([f"pool-test:{n}"], timeout=0.2)

    async with asyncio.timeout(5):
        results = await asyncio.gather(*(hold(n) for n in range(6)))

    assert results == [None] * 6  # every command ran; none failed with "Too many connections"
    assert most <= 2
    assert await _connections_named(redis_client) == 2


async def test_a_wait_cancelled_by_its_callers_deadline_costs_nobody_else(
    pool: WaitingConnectionPool,
) -> None:
    client = redis.Redis.from_pool(pool)
    holders = [asyncio.ensure_future(client.blpop([f"pool-test:{n}"], timeout=0.3)) for n in range(2)]
    await asyncio.sleep(0.05)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await client.ping()

    async with asyncio.timeout(1):
        assert await asyncio.gather(*holders) == [None, None]
        assert await client.ping() is True


async def test_a_waiter_woken_then_cancelled_hands_the_connection_on(pool: WaitingConnectionPool) -> None:
    held = [await pool.get_connection() for _ in range(2)]
    woken = asyncio.ensure_future(pool.get_connection())
    next_in_line = asyncio.ensure_future(pool.get_connection())
    await asyncio.sleep(0.01)
    assert not woken.done() and not next_in_line.done()

    await pool.release(held.pop())
    woken.cancel()  # before it ran: its turn must pass to the next waiter

    async with asyncio.timeout(1):
        connection = await next_in_line
    assert woken.cancelled()
    await pool.release(connection)
    await pool.release(held.pop())


async def test_a_returned_connection_goes_to_the_longest_waiter_not_back_to_its_releaser(
    pool: WaitingConnectionPool,
) -> None:
    held = [await pool.get_connection() for _ in range(2)]
    waiting = asyncio.ensure_future(pool.get_connection())
    await asyncio.sleep(0.01)

    returned = held.pop()
    await pool.release(returned)
    again = asyncio.ensure_future(pool.get_connection())  # the releaser asks at once
    await asyncio.sleep(0.01)

    assert waiting.done() and waiting.result() is returned
    assert not again.done()
    await pool.release(waiting.result())
    async with asyncio.timeout(1):
        await pool.release(await again)
    await pool.release(held.pop())
