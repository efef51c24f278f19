"""The official clients pointed at the module's own ``fake`` fixture."""

from collections.abc import AsyncIterator

import anthropic
import openai
import pytest

from tests.fakes.provider import FakeProvider


@pytest.fixture
async def oai(fake: FakeProvider) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key="x", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def claude(fake: FakeProvider) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(base_url=fake.url, api_key="x", max_retries=0)
    yield client
    await client.close()
