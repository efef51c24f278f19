"""Fixtures on real services: a throwaway Postgres database and a Redis database of its own."""

import os
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as redis

from origin.settings import Settings
from origin.stores import postgres
from origin.stores.migrate import migrate

# One database per test session, so that two sessions on one machine never drop each other's.
TEST_DATABASE = f"prism_test_{os.getpid()}"
TEST_REDIS_DB = 15


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _with_redis_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """Settings against the local services, pointed at test-only databases."""
    defaults = Settings.from_env()
    return replace(
        defaults,
        database_url=_with_database(defaults.database_url, TEST_DATABASE),
        redis_url=_with_redis_db(defaults.redis_url, TEST_REDIS_DB),
        key_pepper="test-pepper-0123456789",
        ingest_secret="test-ingest-secret-0123456789",
        port=0,
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
async def redis_client(base_settings: Settings) -> AsyncIterator["redis.Redis"]:
    # Generous timeouts: this machine's I/O sometimes stalls for seconds; the tests assert behaviour.
    client = redis.Redis.from_url(base_settings.redis_url, socket_timeout=30, socket_connect_timeout=30)
    await client.flushdb()
    yield client
    await client.aclose()
