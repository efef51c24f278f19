"""The official openai client against a real origin and the fake provider."""

import json
import time

import openai
import pytest

from origin.stores import postgres
from shared import headers as h
from shared.edge_forwarded import stamp
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, usage_row

HELLO = [{"role": "user", "content": "hello there prism"}]


async def test_plain_completion_headers_and_usage_row(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider
) -> None:
    prism = client(
        origin,
        api_key,
        cache=True,
        **{"X-Prism-Session": "conv-1", "X-Prism-Tags": "feature=search, team=core"},
    )
    raw = await prism.chat.completions.with_raw_response.create(model="alpha", messages=HELLO)
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello there prism"
    assert completion.model == "alpha"
    assert raw.headers["x-prism-model"] == "alpha" and raw.headers["x-prism-provider"] == "fakeoai"
    assert raw.headers["x-prism-cache"] == "miss"
    sent = fake.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-fake-openai" and sent.json is not None
    assert sent.json["model"] == "alpha"

    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert completion.usage is not None
    assert (row["tokens_in"], row["tokens_out"]) == (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    )
    expected_cents = (
        (completion.usage.prompt_tokens * 1.0 + completion.usage.completion_tokens * 2.0) / 1_000_000 * 100
    )
    assert float(row["cost_provider_cents"]) == pytest.approx(expected_cents, rel=1e-6)
    assert float(row["cost_provider_cents"]) > 0
    assert row["session_id"] == "conv-1"
    assert json.loads(row["request_tags"]) == {"feature": "search", "team": "core"}
    assert (row["success"], row["status_code"], row["cache_status"], row["mode"]) == (
        True,
        200,
        "miss",
        "balanced",
    )
    assert row["model_used"] == "alpha" and row["provider"] == "fakeoai" and not row["was_streaming"]


async def test_the_row_names_the_pop_only_when_the_edge_vouches_for_it(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool
) -> None:
    secret = origin.state.settings.ingest_secret
    sent = {
        "vouched": stamp("FRA", secret, now=time.time()),
        "forged": stamp("FRA", "a-client-guessing-the-secret", now=time.time()),
        "stale": stamp("FRA", secret, now=time.time() - 600),
        "bare": "FRA",
    }
    regions: dict[str, object] = {}
    for name, value in sent.items():
        prism = client(origin, api_key, **{h.EDGE_FORWARDED: value})
        raw = await prism.chat.completions.with_raw_response.create(model="alpha", messages=HELLO)
        regions[name] = (await usage_row(origin, pool, raw.headers["x-prism-request-id"]))["edge_region"]
    assert regions == {"vouched": "FRA", "forged": None, "stale": None, "bare": None}


async def test_streaming_with_usage(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider
) -> None:
    prism = client(origin, api_key)
    raw = await prism.chat.completions.with_raw_response.create(
        model="alpha",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in raw.parse():
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "echo: hello there prism"
    assert usage is not None and usage.completion_tokens > 0
    assert fake.requests[-1].json is not None and fake.requests[-1].json["stream_options"] == {
        "include_usage": True
    }
    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert row["was_streaming"] and row["success"]
    assert (row["tokens_in"], row["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)


async def test_streaming_without_usage_hides_it(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    stream = await client(origin, api_key).chat.completions.create(model="alpha", messages=HELLO, stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks and all(chunk.usage is None and chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_tools_round_trip(origin: RunningOrigin, api_key: str, fake: FakeProvider) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    for model in ("alpha", "claude"):
        completion = await client(origin, api_key).chat.completions.create(
            model=model,
            messages=HELLO,
            tools=tools,
        )
        call = completion.choices[0].message.tool_calls[0]
        assert completion.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "lookup"
        assert json.loads(call.function.arguments) == {"input": "hello there prism"}


async def test_anthropic_provider_plain_and_streamed(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider
) -> None:
    fake.configure("claude-up", Behaviour(cache_read_tokens=100, cache_creation_tokens=20))
    messages = [{"role": "system", "content": "be kind"}, *HELLO]
    raw = await client(origin, api_key).chat.completions.with_raw_response.create(
        model="claude", messages=messages
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello there prism"
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == "sk-fake-anthropic"
    assert sent.json is not None and sent.json["system"] == "be kind" and sent.json["model"] == "claude-up"
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 100
    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    fresh = completion.usage.prompt_tokens - 120
    expected = (fresh * 3.0 + 100 * 0.3 + 20 * 3.75 + completion.usage.completion_tokens * 15.0) / 1e6 * 100
    assert float(row["cost_provider_cents"]) == pytest.approx(expected, rel=1e-6)
    assert row["tokens_cached_in"] == 100

    stream = await client(origin, api_key).chat.completions.create(
        model="claude",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello there prism"
    assert (
        chunks[-1].usage is not None
        and chunks[-1].usage.completion_tokens == completion.usage.completion_tokens
    )


async def test_models_lists_configured_models(origin: RunningOrigin, api_key: str) -> None:
    models = [model.id async for model in client(origin, api_key).models.list()]
    assert {"auto", "alpha", "beta", "claude", "fast"} <= set(models)


async def test_a_model_is_retrieved_with_the_fields_of_the_list(origin: RunningOrigin, api_key: str) -> None:
    prism = client(origin, api_key)
    listed = {model.id: model async for model in prism.models.list()}
    for name in ("claude", "fast", "auto"):
        assert await prism.models.retrieve(name) == listed[name]
    assert (await prism.models.retrieve("claude")).owned_by == "fakeant"
    with pytest.raises(openai.NotFoundError) as raised:
        await prism.models.retrieve("gpt-nope")
    assert raised.value.code == "model_not_found"


async def test_cost_and_savings_are_told_in_headers_and_at_a_streams_end(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    cached = client(origin, api_key, cache=True)
    question = [{"role": "user", "content": "what does this cost me"}]
    miss = await cached.chat.completions.with_raw_response.create(model="alpha", messages=question)
    row = await usage_row(origin, pool, miss.headers["x-prism-request-id"])
    assert row["cost_total_cents"] > 0
    assert miss.headers["x-prism-cost-cents"] == f"{row['cost_total_cents']:.6f}"
    assert miss.headers["x-prism-saved-cents"] == "0.000000"
    hit = await cached.chat.completions.with_raw_response.create(model="alpha", messages=question)
    assert hit.headers["x-prism-cache"] == "hit-exact"
    assert (hit.headers["x-prism-cost-cents"], hit.headers["x-prism-saved-cents"]) == (
        "0.000000",
        f"{row['cost_total_cents']:.6f}",
    )

    streamed = await client(origin, api_key).chat.completions.with_raw_response.create(
        model="alpha", messages=question, stream=True, stream_options={"include_usage": True}
    )
    assert "x-prism-cost-cents" not in streamed.headers  # not known yet when the headers leave
    chunks = [chunk async for chunk in streamed.parse()]
    stream_row = await usage_row(origin, pool, streamed.headers["x-prism-request-id"])
    assert chunks[-1].usage is not None
    assert (chunks[-1].model_extra or {})["prism"] == {
        "cost_cents": round(float(stream_row["cost_total_cents"]), 6),
        "saved_cents": 0.0,
    }
