"""A real origin in front of the fake provider, on real Redis and Postgres."""

from collections.abc import AsyncIterator

import pytest

from origin.settings import Settings
from origin.stores import postgres
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, running_origin
from tests.origin.helpers import gateway_settings


@pytest.fixture(scope="session")
async def fake_server() -> AsyncIterator[tuple[FakeProvider, str]]:
    provider = FakeProvider(seed=7)
    url = await provider.start()
    yield provider, url
    await provider.stop()


@pytest.fixture
def fake(fake_server: tuple[FakeProvider, str]) -> FakeProvider:
    fake_server[0].reset()
    return fake_server[0]


@pytest.fixture(scope="session")
async def origin(
    base_settings: Settings,
    migrated: str,
    fake_server: tuple[FakeProvider, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningOrigin]:
    settings = gateway_settings(base_settings, fake_server[1], tmp_path_factory.mktemp("origin"))
    async with running_origin(settings) as running:
        yield running


@pytest.fixture(scope="session")
async def api_key(pool: postgres.Pool, base_settings: Settings) -> str:
    key, _ = await postgres.create_key(
        pool, project="gateway-tests", org="tests", pepper=base_settings.key_pepper
    )
    return key


@pytest.fixture(autouse=True)
async def _fresh_state(request: pytest.FixtureRequest) -> None:
    """Tests that share the session's origin start with an empty cache (and key cache, memory) and
    every circuit closed, whatever the tests before them failed."""
    if "origin" in request.fixturenames:
        running: RunningOrigin = request.getfixturevalue("origin")
        await running.state.redis.flushdb()
        for model in running.state.breakers.states():
            running.state.breakers.record_success(model)
