"""Fixtures on real services: a throwaway Postgres database and a private Redis server per run."""

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anthropic
import asyncpg
import openai
import pytest

from origin.settings import Settings
from origin.stores import postgres
from origin.stores.migrate import migrate
from origin.stores.redis_client import RedisClient
from origin.stores.redis_client import connect as connect_redis
from tests.redisserver import ON_CLUSTER, TempRedis, TempRedisCluster

# One database and one Redis server per test session, so two runs on one machine never meet.
TEST_DATABASE = f"prism_test_{os.getpid()}"


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[TempRedis]:
    with TempRedis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[TempRedisCluster]:
    with TempRedisCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    """The run's Redis: its own single node, or its own cluster when PRISM_TEST_REDIS=cluster."""
    server: TempRedis | TempRedisCluster = request.getfixturevalue(
        "redis_cluster" if ON_CLUSTER else "redis_server"
    )
    return server.url


@pytest.fixture(scope="session")
def base_settings(redis_url: str) -> Settings:
    """Settings against the local Postgres (a test-only database) and this run's own Redis."""
    # Production mode with the tests' own secrets: what every test origin runs is what deploys run.
    secrets = {
        "PRISM_KEY_PEPPER": "test-pepper-0123456789",
        "PRISM_INGEST_SECRET": "test-ingest-secret-0123456789",
        "PRISM_DASHBOARD_SECRET": "test-dashboard-secret-0123456789",
    }
    defaults = Settings.from_env({**os.environ, **secrets})
    return replace(
        defaults,
        database_url=_with_database(defaults.database_url, TEST_DATABASE),
        redis_url=redis_url,
        port=0,
        # Redis is flushed between tests while an app lives on: nothing may outlive it in the app's
        # memory. tests/origin/cache/test_local.py turns it on.
        local_cache_seconds=0.0,
        # Warm-ups run only where a test starts them (tests/origin/http/endpoints/test_warmups.py).
        warmup_tick_seconds=0.0,
    )


@pytest.fixture(scope="session")
async def migrated(base_settings: Settings) -> AsyncIterator[str]:
    admin = await asyncpg.connect(_with_database(base_settings.database_url, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEST_DATABASE} WITH (FORCE)")
    finally:
        await admin.close()
    await migrate(base_settings.database_url)
    yield base_settings.database_url
    admin = await asyncpg.connect(_with_database(base_settings.database_url, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEST_DATABASE} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def pool(migrated: str) -> AsyncIterator[postgres.Pool]:
    pool = await postgres.create_pool(migrated, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture
async def redis_client(base_settings: Settings) -> AsyncIterator[RedisClient]:
    # Generous timeouts: this machine's I/O sometimes stalls for seconds; the tests assert behaviour.
    client = connect_redis(base_settings.redis_url, socket_timeout=30, connect_timeout=30)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def sdk_clients() -> Iterator[list[Any]]:
    """Every official ``openai``/``anthropic`` async client the tests make, kept until closed.

    An unclosed client that is garbage-collected in this long-lived event loop breaks *other*
    sockets: its transports' ``__del__`` closes their descriptors at once, while the SDK's own
    ``__del__`` schedules ``aclose()``, which later aborts those transports and removes the reader of
    whatever socket has been given the same descriptor number since (seen as a response lost in the
    200-request burst). So each test's clients are held, then closed, by ``_close_sdk_clients``.
    """
    made: list[Any] = []
    originals = {cls: cls.__init__ for cls in (openai.AsyncOpenAI, anthropic.AsyncAnthropic)}

    def tracking(original: Any) -> Any:
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            made.append(self)

        return init

    for cls, original in originals.items():
        cls.__init__ = tracking(original)  # type: ignore[method-assign]
    yield made
    for cls, original in originals.items():
        cls.__init__ = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
async def _close_sdk_clients(sdk_clients: list[Any]) -> AsyncIterator[None]:
    yield
    while sdk_clients:
        client = sdk_clients.pop()
        if not client.is_closed():
            await client.close()
