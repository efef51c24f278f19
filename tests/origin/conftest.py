"""A real origin in front of the fake provider, on real Redis and Postgres."""

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from origin.settings import Settings
from origin.stores import postgres
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, running_origin

GATEWAY_CONFIG = """
[providers.fakeoai]
kind = "openai"
base_url = "{url}/v1"

[providers.fakeant]
kind = "anthropic"
base_url = "{url}"

[models.alpha]
provider = "fakeoai"
price = {{ input = 1.0, cached_input = 0.5, output = 2.0 }}
fallbacks = ["beta"]

[models.beta]
provider = "fakeoai"
price = {{ input = 0.5, output = 1.0 }}

[models.claude]
provider = "fakeant"
upstream_model = "claude-up"
price = {{ input = 3.0, cached_input = 0.3, cache_write = 3.75, output = 15.0 }}

[models.flaky]
provider = "fakeoai"
price = {{ input = 1.0, output = 1.0 }}
fallbacks = ["beta"]

[models.breaker]
provider = "fakeoai"
price = {{ input = 1.0, output = 1.0 }}
fallbacks = ["beta"]

[models.lonely]
provider = "fakeoai"
price = {{ input = 1.0, output = 1.0 }}

[models.dead]
provider = "nowhere"
price = {{ input = 1.0, output = 1.0 }}

[providers.nowhere]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[routing.modes]
cheap = ["beta", "alpha"]
balanced = ["alpha", "claude"]
quality = ["claude", "alpha"]

[routing.aliases]
fast = "beta"

[timeouts]
connect = 0.5
first_byte = 0.6
idle = 0.6

[retries]
attempts = 2
backoff_base = 0.01
backoff_max = 0.05

[breaker]
failure_threshold = 2
cooldown_seconds = 0.5
"""


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
    directory = tmp_path_factory.mktemp("origin")
    config = directory / "prism.toml"
    config.write_text(GATEWAY_CONFIG.format(url=fake_server[1]))
    settings = replace(
        base_settings,
        config_path=config,
        spool_dir=directory / "spool",
        provider_api_keys={"fakeoai": "sk-fake-openai", "fakeant": "sk-fake-anthropic"},
    )
    async with running_origin(settings) as running:
        yield running


@pytest.fixture(scope="session")
async def api_key(pool: postgres.Pool, base_settings: Settings) -> str:
    key, _ = await postgres.create_key(
        pool, project="gateway-tests", org="tests", pepper=base_settings.key_pepper
    )
    return key


def spool_dir(origin: RunningOrigin) -> Path:
    return origin.state.settings.spool_dir
