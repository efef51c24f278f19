"""The one way the origin and the CLI reach Redis: a single node or a Redis Cluster, by URL.

``redis://`` (``rediss://``, ``unix://``) is one node; ``redis+cluster://host:port[,host:port...]``
(``rediss+cluster://`` with TLS) is a cluster found from those seed nodes, through redis-py's cluster
client. Every script and transaction keeps its keys in one hash slot (``{...}`` tags in the key
names), so the same code runs on both.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any, Final, TypeAlias
from urllib.parse import unquote, urlsplit

import redis.asyncio as redis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster

from origin.stores.redis_pool import WaitingConnectionPool

RedisClient: TypeAlias = redis.Redis | RedisCluster

CLUSTER_SCHEMES: Final = ("redis+cluster", "rediss+cluster")
SCHEMES: Final = ("redis", "rediss", "unix", *CLUSTER_SCHEMES)


class ClusterURLError(ValueError):
    pass


# Set inside a command or pipeline that holds a turn: a pipeline's redirect retries run commands
# of their own, which must not wait for a second turn (all turns could be held by such pipelines).
_HOLDS_TURN: Final[ContextVar[bool]] = ContextVar("prism_redis_cluster_turn", default=False)


class WaitingRedisCluster(RedisCluster):
    """redis-py's cluster client, where a burst past ``max_connections`` waits for a turn instead of
    failing: its nodes' pools raise ``MaxConnectionsError`` at the limit (``WaitingConnectionPool``
    is the single node's answer to the same). At most ``max_connections`` commands and pipelines are
    in flight, so no node ever needs more connections than that."""

    def __init__(self, *, max_connections: int, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._turns = asyncio.Semaphore(max_connections)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if _HOLDS_TURN.get():
            yield
            return
        async with self._turns:
            token = _HOLDS_TURN.set(True)
            try:
                yield
            finally:
                _HOLDS_TURN.reset(token)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # redis-py's own error
        return _WaitingPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py makes its own


class _WaitingPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        client = self.cluster_client
        assert isinstance(client, WaitingRedisCluster)
        async with client.turn():
            return await super().execute(raise_on_error, allow_redirections)


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def cluster_nodes(url: str) -> list[ClusterNode]:
    """The seed nodes of a ``redis+cluster://`` URL; ``ClusterURLError`` when one is not host:port."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    nodes: list[ClusterNode] = []
    for address in netloc.split(","):
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ClusterURLError(f"{address.strip()!r} is not host:port")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    return nodes


def display_address(url: str) -> str:
    """Where ``url`` points, never its password: ``host:port``, or a cluster's seed nodes joined by commas."""
    if is_cluster_url(url):
        return ",".join(f"{node.host}:{node.port}" for node in cluster_nodes(url))
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}"


def connect(
    url: str, *, socket_timeout: float, connect_timeout: float, max_connections: int = 256
) -> RedisClient:
    """A client for ``url``; connections are made when first used."""
    if not is_cluster_url(url):
        pool = WaitingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            health_check_interval=10,
        )
        return redis.Redis.from_pool(pool)
    parts = urlsplit(url)
    return WaitingRedisCluster(
        startup_nodes=cluster_nodes(url),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=parts.scheme == "rediss+cluster",
        max_connections=max_connections,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        health_check_interval=10,
    )
