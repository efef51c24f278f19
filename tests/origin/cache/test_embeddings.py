"""The embeddings client against the fake provider's real ``/v1/embeddings``, and the ``[semantic]`` table."""

import math
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import test_utils, web

from origin.providers.base import ProviderConfig
from origin.providers.embeddings import (
    EmbeddingsClient,
    EmbeddingsUnavailable,
    SemanticConfig,
    embeddings_client,
    parse_semantic_config,
)
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider

MODEL = "fake-embed"


def provider_at(base_url: str, *, kind: str = "openai") -> ProviderConfig:
    return ProviderConfig(name="fake", kind=kind, base_url=base_url, api_key="sk-fake-embeddings")


@pytest.fixture
async def client(fake: FakeProvider) -> AsyncIterator[EmbeddingsClient]:
    embedder = EmbeddingsClient(provider_at(f"{fake.url}/v1"), MODEL, timeout=1.0)
    yield embedder
    await embedder.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_embeds_text_as_a_unit_vector(client: EmbeddingsClient, fake: FakeProvider) -> None:
    vector = await client.embed("What is the capital of France?")
    assert len(vector) == 64
    assert math.isclose(math.hypot(*vector), 1.0, rel_tol=1e-6)
    sent = fake.requests[-1]
    assert sent.path == "/v1/embeddings"
    assert sent.headers["authorization"] == "Bearer sk-fake-embeddings"
    assert sent.json == {
        "model": MODEL,
        "input": "What is the capital of France?",
        "encoding_format": "float",
    }


async def test_asks_for_fewer_dimensions_when_configured(fake: FakeProvider) -> None:
    config = SemanticConfig(provider="fake", model=MODEL, dimensions=256, timeout_seconds=1.0)
    embedder = embeddings_client(config, {"fake": provider_at(f"{fake.url}/v1")})
    try:
        await embedder.embed("hello")
    finally:
        await embedder.close()
    assert fake.requests[-1].json == {
        "model": MODEL,
        "input": "hello",
        "encoding_format": "float",
        "dimensions": 256,
    }


async def test_same_text_same_vector(client: EmbeddingsClient) -> None:
    assert await client.embed("hello there") == await client.embed("hello there")


async def test_a_closed_port_fails_fast() -> None:
    embedder = EmbeddingsClient(provider_at(f"http://127.0.0.1:{closed_port()}/v1"), MODEL, timeout=2.0)
    started = time.monotonic()
    try:
        with pytest.raises(EmbeddingsUnavailable, match="fake"):
            await embedder.embed("anything")
    finally:
        await embedder.close()
    assert time.monotonic() - started < 1.0


async def test_an_upstream_error_is_unavailable(client: EmbeddingsClient, fake: FakeProvider) -> None:
    fake.configure(MODEL, Behaviour(fail_times=1, fail_status=500))
    with pytest.raises(EmbeddingsUnavailable, match="HTTP 500"):
        await client.embed("anything")
    assert len(await client.embed("anything")) == 64


async def test_a_slow_upstream_times_out(fake: FakeProvider) -> None:
    fake.configure(MODEL, Behaviour(latency_ms=2000))
    embedder = EmbeddingsClient(provider_at(f"{fake.url}/v1"), MODEL, timeout=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(EmbeddingsUnavailable, match="TimeoutError"):
            await embedder.embed("anything")
    finally:
        await embedder.close()
    assert time.monotonic() - started < 1.0


async def test_a_wrong_path_is_unavailable(fake: FakeProvider) -> None:
    embedder = EmbeddingsClient(provider_at(f"{fake.url}/nowhere"), MODEL)
    try:
        with pytest.raises(EmbeddingsUnavailable, match="HTTP 404"):
            await embedder.embed("anything")
    finally:
        await embedder.close()


@pytest.mark.parametrize(
    "answer",
    [
        {"data": []},
        {"data": [{"embedding": [1.0, "x"]}]},
        {"data": [{"embedding": []}]},
        ["not", "an", "object"],
    ],
)
async def test_a_malformed_answer_is_unavailable(answer: Any) -> None:
    async def embeddings(request: web.Request) -> web.Response:
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    async with test_utils.TestServer(app, host="127.0.0.1") as server:
        embedder = EmbeddingsClient(provider_at(str(server.make_url("/v1"))), MODEL)
        try:
            with pytest.raises(EmbeddingsUnavailable, match="malformed answer"):
                await embedder.embed("anything")
        finally:
            await embedder.close()


def test_only_openai_compatible_providers_embed() -> None:
    with pytest.raises(ValueError, match="no embeddings endpoint"):
        EmbeddingsClient(provider_at("https://api.anthropic.com", kind="anthropic"), MODEL)
    config = SemanticConfig(provider="missing", model=MODEL)
    with pytest.raises(ValueError, match="unknown provider 'missing'"):
        embeddings_client(config, {"fake": provider_at("http://127.0.0.1:1/v1")})


def test_parses_the_semantic_table() -> None:
    assert parse_semantic_config(None) is None
    config = parse_semantic_config(
        {"provider": "openai", "model": "text-embedding-3-small", "threshold": 0.9}
    )
    assert config == SemanticConfig(provider="openai", model="text-embedding-3-small", threshold=0.9)
    assert config.ttl_seconds == 3600 and config.bands == 20 and config.rows == 12
    tuned = parse_semantic_config(
        {"provider": "p", "model": "m", "threshold": 1, "ttl_seconds": 60, "rows": 10}
    )
    assert tuned is not None and tuned.threshold == 1.0 and tuned.ttl_seconds == 60 and tuned.rows == 10


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"model": "m"}, "semantic.provider must be a non-empty string"),
        ({"provider": "p", "model": " "}, "semantic.model must be a non-empty string"),
        ({"provider": "p", "model": "m", "threshold": 0}, r"semantic.threshold must be in \(0, 1\]"),
        ({"provider": "p", "model": "m", "threshold": 1.5}, r"semantic.threshold must be in \(0, 1\]"),
        ({"provider": "p", "model": "m", "threshold": "high"}, "semantic.threshold must be a number"),
        ({"provider": "p", "model": "m", "ttl_seconds": 0}, "semantic.ttl_seconds must be a whole number"),
        ({"provider": "p", "model": "m", "bands": True}, "semantic.bands must be a whole number"),
        ({"provider": "p", "model": "m", "rows": 2.5}, "semantic.rows must be a whole number"),
        ({"provider": "p", "model": "m", "timeout_seconds": -1}, "semantic.timeout_seconds must be in"),
        ({"provider": "p", "model": "m", "dimensions": 0}, "semantic.dimensions must be a whole number"),
        ({"provider": "p", "model": "m", "treshold": 0.9}, "unknown key"),
    ],
)
def test_rejects_bad_values_by_name(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_semantic_config(raw)
