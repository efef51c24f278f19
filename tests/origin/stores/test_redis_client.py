"""Reaching Redis by URL: a single node or a Redis Cluster's seed nodes."""

import asyncio
import uuid

import pytest
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from origin.stores.redis_client import (
    ClusterURLError,
    cluster_nodes,
    connect,
    display_address,
    is_cluster_url,
)
from tests.redisserver import TempRedisCluster


def test_a_cluster_url_names_its_seed_nodes() -> None:
    url = "redis+cluster://user:secret@10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002"
    assert is_cluster_url(url) and not is_cluster_url("redis://10.0.0.1:6379/0")
    assert [(node.host, node.port) for node in cluster_nodes(url)] == [
        ("10.0.0.1", 7000),
        ("10.0.0.2", 7001),
        ("::1", 7002),
    ]
    assert display_address(url) == "10.0.0.1:7000,10.0.0.2:7001,::1:7002"  # never the password
    assert display_address("redis://:secret@cache.internal/0") == "cache.internal:6379"
    assert display_address("unix:///run/redis.sock") == "/run/redis.sock"


@pytest.mark.parametrize(
    "url", ["redis+cluster://10.0.0.1", "redis+cluster://a:1,b", "redis+cluster://a:99999"]
)
def test_a_cluster_node_without_a_port_is_refused(url: str) -> None:
    with pytest.raises(ClusterURLError, match="is not host:port"):
        cluster_nodes(url)


async def test_the_scheme_picks_the_client() -> None:
    single = connect("redis://127.0.0.1:1/0", socket_timeout=1, connect_timeout=1)
    cluster = connect("redis+cluster://127.0.0.1:1,127.0.0.1:2", socket_timeout=1, connect_timeout=1)
    try:
        assert isinstance(single, redis.Redis) and isinstance(cluster, RedisCluster)
    finally:
        await single.aclose()
        await cluster.aclose()


async def test_a_burst_past_the_cluster_clients_connections_waits_for_a_turn(
    redis_cluster: TempRedisCluster,
) -> None:
    client = connect(redis_cluster.url, socket_timeout=30, connect_timeout=30, max_connections=2)
    key = f"{{burst}}:{uuid.uuid4().hex}"

    async def piped() -> list[object]:
        async with client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.incr(key)
            result: list[object] = await pipe.execute()
            return result

    try:
        # redis-py's cluster nodes raise MaxConnectionsError past their pool; here the burst queues.
        await asyncio.gather(*(client.incr(key) for _ in range(60)), *(piped() for _ in range(20)))
        assert await client.get(key) == b"100"
    finally:
        await client.delete(key)
        await client.aclose()
