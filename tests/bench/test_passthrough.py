"""The bench's bare passthrough relays the fake provider's answers unchanged, JSON and SSE."""

from collections.abc import AsyncIterator

import httpx
import pytest

from bench.passthrough import build_app
from tests.fakes.provider import FakeProvider

BODY = {"model": "alpha", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, FakeProvider]]:
    async with FakeProvider(seed=3) as fake:
        app = build_app(fake.url)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://passthrough") as http:
                yield http, fake


async def test_json_and_streams_come_back_as_the_upstream_sent_them(
    client: tuple[httpx.AsyncClient, FakeProvider],
) -> None:
    http, fake = client
    headers = {"Authorization": "Bearer x"}
    async with httpx.AsyncClient(base_url=fake.url) as direct:
        for body in (BODY, {**BODY, "stream": True}):
            relayed = await http.post("/v1/chat/completions", json=body, headers=headers)
            straight = await direct.post("/v1/chat/completions", json=body, headers=headers)
            assert relayed.status_code == straight.status_code == 200
            assert relayed.headers["content-type"] == straight.headers["content-type"]
            # The fake's ids and timestamps differ per answer; everything else is the same bytes.
            assert len(relayed.content) == len(straight.content)
    assert fake.count(path="/v1/chat/completions") == 4


async def test_upstream_errors_pass_through_with_their_status(
    client: tuple[httpx.AsyncClient, FakeProvider],
) -> None:
    http, _ = client
    refused = await http.post("/v1/chat/completions", json=BODY)
    assert refused.status_code == 401
    assert "API key" in refused.json()["error"]["message"]


async def test_the_floor_answers_itself_without_calling_the_upstream(
    client: tuple[httpx.AsyncClient, FakeProvider],
) -> None:
    http, fake = client
    answer = await http.post("/floor", json=BODY)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"floor": True}
    assert fake.count(path="/v1/chat/completions") == 0
