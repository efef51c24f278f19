"""Without Redis, budgets and rate limits fail closed, quickly and with an explanation; a script
whose reply is lost, which redis-py then runs again, still counts once."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as redis

from origin.controls.limits import (
    Budgets,
    BudgetScope,
    LimitsUnavailable,
    RateDecision,
    RateLimiter,
    Reservation,
    TokenLimiter,
)
from origin.controls.limits.ratelimit import ratelimit_key
from origin.settings import Settings
from tests.redisserver import skip_on_cluster

SCOPE = BudgetScope("project:7", 10.0, "project acme/web")


async def _swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()
    writer.close()


@pytest.fixture(params=["closed port", "silent server", "silent server, no socket timeout"])
async def unreachable(request: pytest.FixtureRequest) -> AsyncIterator["redis.Redis"]:
    """Nothing listening, or a server that accepts connections and never answers (a hung Redis), to
    a client that gives up on its socket or (the deadline then being Prism's alone) never does."""
    if request.param == "closed port":
        client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        yield client
        await client.aclose()
        return
    server = await asyncio.start_server(_swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    socket_timeout = None if request.param.endswith("no socket timeout") else 0.2
    client = redis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.2, socket_timeout=socket_timeout
    )
    yield client
    await client.aclose()
    server.close()


async def _fails_fast(call: Callable[[], Awaitable[object]], what: str) -> None:
    started = time.monotonic()
    with pytest.raises(LimitsUnavailable) as caught:
        await asyncio.wait_for(call(), 5)  # a TimeoutError here (no LimitsUnavailable) is a hang
    assert time.monotonic() - started < 1.0
    assert f"Prism cannot check {what} right now" in str(caught.value)
    assert "Redis" in str(caught.value)


async def test_every_call_fails_closed(unreachable: "redis.Redis") -> None:
    budgets = Budgets(unreachable, timeout=0.3)
    limiter = RateLimiter(unreachable, timeout=0.3)
    tokens = TokenLimiter(unreachable, timeout=0.3)
    opened = Reservation("a1b2", (SCOPE,), 1_000_000, "2025-01")
    await _fails_fast(lambda: budgets.reserve([SCOPE], 1.0), "budgets")
    await _fails_fast(lambda: budgets.settle(opened, 0.5), "budgets")
    await _fails_fast(lambda: budgets.spent(SCOPE), "budgets")
    await _fails_fast(lambda: limiter.hit("key-a", 60), "rate limits")
    await _fails_fast(lambda: tokens.admit("key-a", 100, 10_000), "token limits")
    await _fails_fast(lambda: tokens.settle("key-a", "100:ab", 50), "token limits")


class LoseFirstScriptResult:
    """A proxy in front of Redis that cuts the connection instead of delivering the first script
    result, after Redis has run the script; redis-py then sends the EVALSHA again."""

    def __init__(self, upstream: dict[str, Any]) -> None:
        self.upstream = upstream
        self.lost = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def client(self) -> "redis.Redis":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return redis.Redis(
            host="127.0.0.1", port=port, db=self.upstream.get("db", 0), password=self.upstream.get("password")
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for handler in self._handlers:
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        upstream_reader, upstream_writer = await asyncio.open_connection(
            self.upstream.get("host", "127.0.0.1"), self.upstream.get("port", 6379)
        )
        script_sent = False

        async def to_redis() -> None:
            nonlocal script_sent
            while data := await reader.read(65536):
                script_sent = script_sent or b"EVALSHA" in data.upper()
                upstream_writer.write(data)

        async def to_client() -> None:
            nonlocal script_sent
            while data := await upstream_reader.read(65536):
                if script_sent and not self.lost and not data.startswith(b"-NOSCRIPT"):
                    self.lost += 1
                    writer.transport.abort()
                    upstream_writer.transport.abort()
                    return
                script_sent = False
                writer.write(data)

        try:
            await asyncio.gather(to_redis(), to_client(), return_exceptions=True)
        finally:
            writer.close()
            upstream_writer.close()


@pytest.fixture
async def lossy(redis_client: "redis.Redis", base_settings: Settings) -> AsyncIterator[LoseFirstScriptResult]:
    skip_on_cluster()
    proxy = LoseFirstScriptResult(redis.ConnectionPool.from_url(base_settings.redis_url).connection_kwargs)
    yield proxy
    await proxy.stop()


async def test_a_lost_reserve_reply_retried_by_the_client_reserves_once(
    lossy: LoseFirstScriptResult, redis_client: "redis.Redis"
) -> None:
    client = await lossy.client()
    budgets = Budgets(client)
    reservation = await budgets.reserve([SCOPE], 3.0)
    assert lossy.lost == 1
    assert await Budgets(redis_client).reserved(SCOPE) == 3.0
    await budgets.settle(reservation, 3.0)
    assert await Budgets(redis_client).reserved(SCOPE) == 0.0
    await client.aclose()


async def test_a_lost_rate_limit_reply_retried_by_the_client_counts_once(
    lossy: LoseFirstScriptResult, redis_client: "redis.Redis"
) -> None:
    client = await lossy.client()
    assert await RateLimiter(client).hit("key-a", 1) == RateDecision(allowed=True, retry_after=0, remaining=0)
    assert lossy.lost == 1
    assert await redis_client.zcard(ratelimit_key("key-a")) == 1
    await client.aclose()
