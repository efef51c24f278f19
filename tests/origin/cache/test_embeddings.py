"""The embeddings client against the fake provider's real ``/v1/embeddings``, and the ``[semantic]`` table."""

import math
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import test_utils, web

from origin.config import BreakerConfig, Timeouts
from origin.ops.metrics import Metrics
from origin.providers.base import ProviderConfig
from origin.providers.breakers import Breakers, BreakerState
from origin.providers.embeddings import (
    EmbeddingsClient,
    EmbeddingsUnavailable,
    SemanticConfig,
    embeddings_client,
    parse_semantic_config,
)
from origin.providers.upstream import Upstream
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider

MODEL = "fake-embed"


def provider_at(base_url: str, *, kind: str = "openai") -> ProviderConfig:
    return ProviderConfig(name="fake", kind=kind, base_url=base_url, api_key="sk-fake-embeddings")


@dataclass
class Seam:
    """The parts chat uses too: one ``Upstream``, the breakers, the metrics."""

    upstream: Upstream
    breakers: Breakers
    metrics: Metrics

    def client(
        self, base_url: str, *, timeout: float = 1.0, dimensions: int | None = None
    ) -> EmbeddingsClient:
        provider = provider_at(base_url)
        self.upstream = Upstream({"fake": provider}, Timeouts(connect=1.0))
        return EmbeddingsClient(
            self.upstream,
            self.breakers,
            self.metrics,
            provider,
            MODEL,
            timeout=timeout,
            dimensions=dimensions,
        )

    def failures(self, kind: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "prism_upstream_failures_total", {"model": MODEL, "kind": kind}
        )
        return value or 0.0


@pytest.fixture
async def seam() -> AsyncIterator[Seam]:
    built = Seam(Upstream({}, Timeouts()), Breakers(BreakerConfig(failure_threshold=2)), Metrics())
    yield built
    await built.upstream.close()


@pytest.fixture
def client(fake: FakeProvider, seam: Seam) -> EmbeddingsClient:
    return seam.client(f"{fake.url}/v1")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_embeds_text_as_a_unit_vector(client: EmbeddingsClient, fake: FakeProvider, seam: Seam) -> None:
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
    latency = seam.metrics.registry.get_sample_value(
        "prism_upstream_latency_seconds_count", {"provider": "fake", "model": MODEL}
    )
    assert latency == 1


async def test_asks_for_fewer_dimensions_when_configured(fake: FakeProvider, seam: Seam) -> None:
    config = SemanticConfig(provider="fake", model=MODEL, dimensions=256, timeout_seconds=1.0)
    provider = provider_at(f"{fake.url}/v1")
    upstream = Upstream({"fake": provider}, Timeouts())
    try:
        embedder = embeddings_client(config, {"fake": provider}, upstream, seam.breakers, seam.metrics)
        await embedder.embed("hello")
    finally:
        await upstream.close()
    assert fake.requests[-1].json == {
        "model": MODEL,
        "input": "hello",
        "encoding_format": "float",
        "dimensions": 256,
    }


async def test_same_text_same_vector(client: EmbeddingsClient) -> None:
    assert await client.embed("hello there") == await client.embed("hello there")


async def test_a_closed_port_fails_fast(seam: Seam) -> None:
    embedder = seam.client(f"http://127.0.0.1:{closed_port()}/v1", timeout=2.0)
    started = time.monotonic()
    with pytest.raises(EmbeddingsUnavailable, match="fake: connect"):
        await embedder.embed("anything")
    assert time.monotonic() - started < 1.0
    assert seam.failures("connect") == 1


async def test_an_upstream_error_is_unavailable(
    client: EmbeddingsClient, fake: FakeProvider, seam: Seam
) -> None:
    fake.configure(MODEL, Behaviour(fail_times=1, fail_status=500))
    with pytest.raises(EmbeddingsUnavailable, match="HTTP 500"):
        await client.embed("anything")
    assert seam.failures("status") == 1
    assert len(await client.embed("anything")) == 64


async def test_a_slow_upstream_times_out(fake: FakeProvider, seam: Seam) -> None:
    fake.configure(MODEL, Behaviour(latency_ms=2000))
    embedder = seam.client(f"{fake.url}/v1", timeout=0.2)
    started = time.monotonic()
    with pytest.raises(EmbeddingsUnavailable, match="timeout"):
        await embedder.embed("anything")
    assert time.monotonic() - started < 1.0


async def test_a_failing_provider_opens_its_breaker(
    client: EmbeddingsClient, fake: FakeProvider, seam: Seam
) -> None:
    fake.configure(MODEL, Behaviour(fail_times=2, fail_status=503))
    for _ in range(2):
        with pytest.raises(EmbeddingsUnavailable, match="HTTP 503"):
            await client.embed("anything")
    with pytest.raises(EmbeddingsUnavailable, match="circuit open"):
        await client.embed("anything")
    assert fake.count(MODEL, "/v1/embeddings") == 2  # the open circuit sent nothing
    assert seam.breakers.state(f"embeddings:{MODEL}") is BreakerState.OPEN


async def test_a_client_error_does_not_judge_the_provider(
    client: EmbeddingsClient, fake: FakeProvider, seam: Seam
) -> None:
    fake.configure(MODEL, Behaviour(fail_times=3, fail_status=400))
    for _ in range(3):
        with pytest.raises(EmbeddingsUnavailable, match="HTTP 400"):
            await client.embed("anything")
    assert seam.breakers.state(f"embeddings:{MODEL}") is BreakerState.CLOSED


async def test_a_wrong_path_is_unavailable(fake: FakeProvider, seam: Seam) -> None:
    embedder = seam.client(f"{fake.url}/nowhere")
    with pytest.raises(EmbeddingsUnavailable, match="HTTP 404"):
        await embedder.embed("anything")


@pytest.mark.parametrize(
    "answer",
    [
        {"data": []},
        {"data": [{"embedding": [1.0, "x"]}]},
        {"data": [{"embedding": []}]},
        ["not", "an", "object"],
    ],
)
async def test_a_malformed_answer_is_unavailable(answer: Any, seam: Seam) -> None:
    async def embeddings(request: web.Request) -> web.Response:
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    async with test_utils.TestServer(app, host="127.0.0.1") as server:
        embedder = seam.client(str(server.make_url("/v1")))
        with pytest.raises(EmbeddingsUnavailable, match=r"malformed answer|protocol"):
            await embedder.embed("anything")
    assert seam.failures("protocol") == 1


def test_only_providers_whose_adapter_embeds_can_embed(seam: Seam) -> None:
    anthropic = provider_at("https://api.anthropic.com", kind="anthropic")
    with pytest.raises(ValueError, match="Anthropic has no embeddings API"):
        EmbeddingsClient(seam.upstream, seam.breakers, seam.metrics, anthropic, MODEL)
    config = SemanticConfig(provider="missing", model=MODEL)
    with pytest.raises(ValueError, match="unknown provider 'missing'"):
        embeddings_client(config, {"fake": provider_at("http://127.0.0.1:1/v1")}, *astuple_seam(seam))


def astuple_seam(seam: Seam) -> tuple[Upstream, Breakers, Metrics]:
    return seam.upstream, seam.breakers, seam.metrics


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
