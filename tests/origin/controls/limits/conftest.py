"""A hand-driven clock fixture and a second Redis client standing in for a second origin instance."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis

from origin.settings import Settings
from origin.stores.redis_client import RedisClient
from origin.stores.redis_client import connect as connect_redis
from tests.clock import Clock

JAN_31_LATE = datetime(2025, 1, 31, 23, 59, 30, tzinfo=UTC).timestamp()
MID_JANUARY = datetime(2025, 1, 15, 12, tzinfo=UTC).timestamp()


@pytest.fixture
def clock() -> Clock:
    return Clock(JAN_31_LATE)


@pytest.fixture
async def instances(redis_client: "redis.Redis", base_settings: Settings) -> AsyncIterator[list[RedisClient]]:
    """Two clients with pools of their own, like two origins, on the same (already flushed) database.

    The origin's own pools: a burst waits for a free connection instead of failing at the pool's limit.
    """
    clients = [
        connect_redis(base_settings.redis_url, socket_timeout=30, connect_timeout=30, max_connections=16)
        for _ in range(2)
    ]
    # Open every pooled connection before the test: the races below exercise the budget scripts'
    # atomicity; connection set-up storms are not what they measure.
    await asyncio.gather(*(client.ping() for client in clients for _ in range(16)))
    yield clients
    for client in clients:
        await client.aclose()
