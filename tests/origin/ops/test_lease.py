"""The Redis lease on real Redis: one holder, renewed, handed over on release or when it runs out."""

import asyncio

import redis.asyncio as redis

from origin.ops.lease import Lease


async def test_one_instance_holds_the_lease_until_it_lets_go(redis_client: "redis.Redis") -> None:
    blue, green = (Lease(redis_client, "job", seconds=30, timeout=30) for _ in range(2))
    assert await blue.hold() is True
    assert await green.hold() is False
    assert await blue.hold() is True  # renewed
    assert 29_000 < await redis_client.pttl("prism:lease:job") <= 30_000
    await green.release()  # not its lease: nothing happens
    assert await green.hold() is False
    await blue.release()
    assert await green.hold() is True
    assert await blue.hold() is False


async def test_a_holder_that_died_loses_the_lease_when_it_runs_out(redis_client: "redis.Redis") -> None:
    dead, alive = (
        Lease(redis_client, "job", seconds=0.2, timeout=30),
        Lease(redis_client, "job", seconds=5, timeout=30),
    )
    assert await dead.hold() is True
    assert await alive.hold() is False
    await asyncio.sleep(0.3)
    assert await alive.hold() is True


async def test_without_redis_nobody_holds_it() -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        lease = Lease(down, "job", seconds=5)
        assert await lease.hold() is False
        await lease.release()
    finally:
        await down.aclose()
