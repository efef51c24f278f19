"""The semantic cache on real Redis, fed by the fake provider's real embeddings endpoint."""

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bench.semantic_scale import measure_lookup, random_entries
from origin.cache.semantic import SemanticCache
from origin.cache.semantic_request import eligible, semantic_scope, semantic_text
from origin.config import BreakerConfig, Timeouts
from origin.ops.metrics import Metrics
from origin.providers.base import ProviderConfig
from origin.providers.breakers import Breakers
from origin.providers.embeddings import EmbeddingsClient
from origin.providers.upstream import Upstream
from origin.stores.redis_client import connect as connect_redis
from tests.clock import Clock
from tests.fakes.provider import FakeProvider

QUESTION = "What is the capital city of France?"
REPHRASED = "What is the capital of France?"  # cosine 0.95 under the fake's bag of words
NEARBY = "What is the capital city of Germany?"  # cosine 0.89
UNRELATED = "How do I bake sourdough bread at home?"
ANSWER = {"response": {"choices": [{"message": {"content": "Paris."}}]}, "model": "alpha", "cost_cents": 0.01}


@pytest.fixture
async def embedder(fake: FakeProvider) -> AsyncIterator[EmbeddingsClient]:
    provider = ProviderConfig(name="fake", kind="openai", base_url=f"{fake.url}/v1", api_key="sk-fake")
    upstream = Upstream({"fake": provider}, Timeouts())
    yield EmbeddingsClient(upstream, Breakers(BreakerConfig()), Metrics(), provider, "fake-embed")
    await upstream.close()


def body(question: str, *, system: str = "You are terse.", **extra: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    return {"model": "auto", "messages": messages, **extra}


def scope_of(request: dict[str, Any], *, project: str = "p1", model: str = "alpha") -> str:
    return semantic_scope(project, model, request, embedding_model="fake-embed")


async def test_a_rephrased_question_hits_and_an_unrelated_one_misses(
    redis_client: "redis.Redis", embedder: EmbeddingsClient
) -> None:
    cache = SemanticCache(redis_client)
    scope = scope_of(body(QUESTION))
    assert scope == scope_of(body(REPHRASED))
    await cache.store(scope, await embedder.embed(semantic_text(body(QUESTION)["messages"])), ANSWER, 60)

    hit = await cache.lookup(scope, await embedder.embed(REPHRASED), 0.92)
    assert hit is not None and hit.entry == ANSWER
    assert 0.92 <= hit.similarity < 1.0
    assert await cache.lookup(scope, await embedder.embed(UNRELATED), 0.92) is None


async def test_the_threshold_is_respected(redis_client: "redis.Redis", embedder: EmbeddingsClient) -> None:
    cache = SemanticCache(redis_client)
    await cache.store("s", await embedder.embed(QUESTION), ANSWER, 60)
    nearby = await embedder.embed(NEARBY)
    assert await cache.lookup("s", nearby, 0.92) is None
    hit = await cache.lookup("s", nearby, 0.85)
    assert hit is not None and hit.similarity == pytest.approx(0.889, abs=1e-3)
    assert await cache.lookup("s", nearby, hit.similarity + 1e-6) is None
    exact = await cache.lookup("s", await embedder.embed(QUESTION), 1.0)
    assert exact is not None and exact.similarity == pytest.approx(1.0)


async def test_scopes_never_share_entries(redis_client: "redis.Redis", embedder: EmbeddingsClient) -> None:
    cache = SemanticCache(redis_client)
    vector = await embedder.embed(QUESTION)
    await cache.store(scope_of(body(QUESTION)), vector, ANSWER, 60)
    assert await cache.lookup(scope_of(body(QUESTION)), vector, 0.92) is not None
    others = [
        scope_of(body(QUESTION), project="p2"),
        scope_of(body(QUESTION), model="beta"),
        semantic_scope("p1", "alpha", body(QUESTION), embedding_model="other-embedder"),
        scope_of(body(QUESTION, system="You are verbose.")),
        scope_of(body(QUESTION, temperature=1.2)),
    ]
    assert len(set(others)) == len(others)
    for other in others:
        assert await cache.lookup(other, vector, 0.5) is None


def test_the_scope_ignores_delivery_fields_and_the_question() -> None:
    plain = scope_of(body(QUESTION))
    assert scope_of(body(QUESTION, stream=True, user="u-1", model="gpt-4o-mini")) == plain
    assert scope_of(body(UNRELATED)) == plain
    earlier_turns = body(QUESTION)
    earlier_turns["messages"][1:1] = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    assert scope_of(earlier_turns) != plain


def test_what_gets_embedded_is_the_last_user_message() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "A long shared system prompt."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second\n  question "}]},
    ]
    assert semantic_text(messages) == "second question"


@pytest.mark.parametrize(
    ("request_body", "expected"),
    [
        (body(QUESTION), True),
        (body(QUESTION, n=1, stream=True), True),
        (body(QUESTION, n=2), False),
        (body(QUESTION, tools=[{"type": "function", "function": {"name": "f"}}]), False),
        (body(QUESTION, functions=[{"name": "f"}]), False),
        (body("x" * 2001), False),
        (body("   "), False),
        ({"messages": []}, False),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]},
            False,
        ),
        (
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "prefill"}]},
            False,
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
                    {"role": "tool", "tool_call_id": "c", "content": "r"},
                    {"role": "user", "content": "and now?"},
                ]
            },
            False,
        ),
    ],
)
def test_eligibility(request_body: dict[str, Any], expected: bool) -> None:
    assert eligible(request_body) is expected


async def test_entries_expire(redis_client: "redis.Redis", embedder: EmbeddingsClient) -> None:
    clock = Clock(1_800_000_000.0)
    cache = SemanticCache(redis_client, clock=clock)
    old, new = await embedder.embed(QUESTION), await embedder.embed(UNRELATED)
    await cache.store("s", old, ANSWER, 60)
    keys = cache.keys("s", len(old))
    assert 0 < await redis_client.ttl(keys.answer(1)) <= 60
    first_bucket = keys.bucket(0, cache.planes(64).codes(cache.planes(64).signature(old))[0])
    assert 0 < await redis_client.ttl(first_bucket) <= 60

    clock.now += 59
    assert await cache.lookup("s", old, 0.92) is not None
    clock.now += 2
    assert await cache.lookup("s", old, 0.92) is None

    await cache.store("s", new, {"later": True}, 60)
    assert await redis_client.zcard(keys.ids) == 1
    assert await redis_client.hkeys(keys.vectors) == [b"2"]
    assert not await redis_client.exists(keys.answer(1))
    assert await _bucket_members(redis_client, keys.prefix) == {b"2"}


async def test_the_size_cap_evicts_the_oldest(redis_client: "redis.Redis") -> None:
    clock = Clock(1_800_000_000.0)
    cache = SemanticCache(redis_client, max_entries=5, clock=clock)
    vectors = random_entries(random.Random(1), 8, 64)
    for index, vector in enumerate(vectors):
        clock.now += 1
        await cache.store("s", vector, {"i": index}, 600)
    keys = cache.keys("s", 64)
    assert await redis_client.zcard(keys.ids) == 5
    assert await redis_client.hlen(keys.vectors) == 5
    assert await _bucket_members(redis_client, keys.prefix) == {b"4", b"5", b"6", b"7", b"8"}
    for index, vector in enumerate(vectors):
        hit = await cache.lookup("s", vector, 0.99)
        assert (hit is not None) is (index >= 3)


async def test_two_instances_share_entries(
    redis_client: "redis.Redis", embedder: EmbeddingsClient, base_settings: Any
) -> None:
    other_client = connect_redis(base_settings.redis_url, socket_timeout=30, connect_timeout=30)
    try:
        first, second = SemanticCache(redis_client), SemanticCache(other_client)
        await first.store("s", await embedder.embed(QUESTION), ANSWER, 60)
        hit = await second.lookup("s", await embedder.embed(REPHRASED), 0.92)
        assert hit is not None and hit.entry == ANSWER
        await second.store("s", await embedder.embed(UNRELATED), {"bread": True}, 60)
        found = await first.lookup("s", await embedder.embed(UNRELATED), 0.99)
        assert found is not None and found.entry == {"bread": True}
    finally:
        await other_client.aclose()


async def test_concurrent_writers_converge_to_the_cap(
    redis_client: "redis.Redis", base_settings: Any
) -> None:
    other_client = connect_redis(base_settings.redis_url, socket_timeout=30, connect_timeout=30)
    try:
        caches = [SemanticCache(redis_client, max_entries=10), SemanticCache(other_client, max_entries=10)]
        vectors = random_entries(random.Random(4), 41, 64)
        await asyncio.gather(
            *(caches[i % 2].store("s", vector, {"i": i}, 600) for i, vector in enumerate(vectors[:40]))
        )
        await caches[0].store("s", vectors[40], {"i": 40}, 600)
    finally:
        await other_client.aclose()
    keys = caches[0].keys("s", 64)
    ids = set(await redis_client.hkeys(keys.records))
    assert len(ids) == await redis_client.zcard(keys.ids) == 10
    assert set(await redis_client.hkeys(keys.vectors)) == ids
    assert await _bucket_members(redis_client, keys.prefix) == ids
    hit = await caches[1].lookup("s", vectors[40], 0.99)
    assert hit is not None and hit.entry == {"i": 40}


@pytest.mark.parametrize("baseline", [0.0, 0.3])
async def test_many_entries_keep_their_nearest_neighbour(
    redis_client: "redis.Redis", baseline: float
) -> None:
    """2,000 entries; queries at cosine 0.93 from one of them (just above a 0.92 threshold) find it."""
    result = await measure_lookup(
        redis_client, 2_000, 64, queries=50, similarity=0.93, threshold=0.92, baseline=baseline
    )
    assert result["recall"] >= 0.95
    assert result["mean_candidates"] < 300
    assert not await redis_client.keys("prism:sem:*")


async def test_redis_down_is_a_miss_and_a_logged_skip(caplog: pytest.LogCaptureFixture) -> None:
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        cache = SemanticCache(down)
        with caplog.at_level(logging.WARNING, logger="prism.semantic"):
            await cache.store("s", [1.0, 0.0], {"secret": "the prompt"}, 60)
            assert await cache.lookup("s", [1.0, 0.0], 0.9) is None
    finally:
        await down.aclose()
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "semantic cache store failed: ConnectionError",
        "semantic cache lookup failed: ConnectionError",
    ]


async def test_bad_vectors_and_decoding_clients_are_refused(redis_client: "redis.Redis") -> None:
    cache = SemanticCache(redis_client)
    assert await cache.lookup("s", [], 0.9) is None
    assert await cache.lookup("s", [0.0, 0.0], 0.9) is None
    await cache.store("s", [float("nan"), 1.0], ANSWER, 60)
    assert not await redis_client.keys("prism:sem:*")
    decoding = redis.Redis(decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            SemanticCache(decoding)
    finally:
        await decoding.aclose()


async def _bucket_members(client: "redis.Redis", prefix: str) -> set[bytes]:
    members: set[bytes] = set()
    async for key in client.scan_iter(match=f"{prefix}:b*"):
        members.update(member for member in await client.smembers(key) if isinstance(member, bytes))
    return members
