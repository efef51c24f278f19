"""The fake provider, checked with the official OpenAI and Anthropic clients and a plain HTTP client."""

import asyncio
import json
import math
import signal
import sys
import time
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from anthropic.types import MessageParam, ToolParam
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.fakes.behaviour import Behaviour, count_tokens
from tests.fakes.provider import BANNER, FakeProvider

USER: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hello brave new world"},
]
CLAUDE_USER: list[MessageParam] = [{"role": "user", "content": "hello brave new world"}]
WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
TIME: ChatCompletionToolParam = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
CLAUDE_WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Weather",
    "input_schema": {"type": "object"},
}
CLAUDE_TIME: ToolParam = {"name": "get_time", "description": "Time", "input_schema": {"type": "object"}}
OPENAI_HEADERS = {"Authorization": "Bearer x"}
ANTHROPIC_HEADERS = {"x-api-key": "x", "anthropic-version": "2023-06-01"}
REPO = Path(__file__).resolve().parents[2]
LONG_REPLY = " ".join(f"word{i}" for i in range(40))


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    async with FakeProvider(seed=7) as provider:
        yield provider


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _chat(stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "model": "fake-gpt",
        "messages": [{"role": "user", "content": LONG_REPLY}],
        "stream": stream,
        **extra,
    }


async def _content_chunks(response: aiohttp.ClientResponse) -> list[str]:
    """Content deltas of an OpenAI stream read with a plain client."""
    pieces: list[str] = []
    async for line in response.content:
        if line.startswith(b"data: {"):
            choices = json.loads(line[6:])["choices"]
            if choices and choices[0]["delta"].get("content"):
                pieces.append(choices[0]["delta"]["content"])
    return pieces


async def test_openai_completion_parses_into_typed_objects(
    fake: FakeProvider, oai: openai.AsyncOpenAI
) -> None:
    completion = await oai.chat.completions.create(model="fake-gpt", messages=USER)

    choice = completion.choices[0]
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "fake-gpt"
    assert choice.message.content == "echo: hello brave new world"
    assert choice.message.refusal is None
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == count_tokens("Be brief.hello brave new world")
    assert completion.usage.completion_tokens == count_tokens("echo: hello brave new world")
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    received = fake.requests[-1]
    assert (received.path, received.model, received.headers["authorization"]) == (
        "/v1/chat/completions",
        "fake-gpt",
        "Bearer x",
    )
    assert received.json is not None and received.json["messages"] == USER
    assert fake.count(model="fake-gpt", path="/v1/chat/completions") == 1
    assert fake.count(model="other") == 0


async def test_openai_stream_with_usage_matches_the_plain_reply(oai: openai.AsyncOpenAI) -> None:
    plain = await oai.chat.completions.create(model="fake-gpt", messages=USER)
    stream = await oai.chat.completions.create(
        model="fake-gpt", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]

    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage == plain.usage
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert len(chunks) == 1 + len(text.split()) + 2


async def test_openai_stream_without_usage_has_no_usage_chunk(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="fake-gpt", messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]

    assert all(chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_openai_tool_call_goes_to_the_first_or_named_tool(oai: openai.AsyncOpenAI) -> None:
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "weather in Paris"}]
    first = await oai.chat.completions.create(model="fake-gpt", messages=ask, tools=[WEATHER, TIME])
    named = await oai.chat.completions.create(
        model="fake-gpt",
        messages=ask,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    declined = await oai.chat.completions.create(
        model="fake-gpt", messages=ask, tools=[WEATHER], tool_choice="none"
    )

    call = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.choices[0].message.content is None
    assert call is not None and call[0].type == "function" and call[0].id.startswith("call_")
    assert call[0].function.name == "get_weather"
    assert json.loads(call[0].function.arguments) == {"input": "weather in Paris"}
    named_call = named.choices[0].message.tool_calls
    assert named_call is not None and named_call[0].type == "function"
    assert named_call[0].function.name == "get_time"
    assert declined.choices[0].message.content == "echo: weather in Paris"


async def test_openai_tool_call_streams_name_then_argument_fragments(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="fake-gpt",
        messages=[{"role": "user", "content": "weather in Paris"}],
        tools=[WEATHER],
        stream=True,
    )
    chunks = [chunk async for chunk in stream]

    first = chunks[0].choices[0].delta.tool_calls
    assert first is not None and first[0].id is not None and first[0].function is not None
    assert first[0].function.name == "get_weather"
    fragments = [
        call.function.arguments or ""
        for chunk in chunks[1:]
        for call in chunk.choices[0].delta.tool_calls or []
        if call.function is not None
    ]
    assert len(fragments) > 1
    assert json.loads("".join(fragments)) == {"input": "weather in Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_openai_tool_result_is_answered_in_text(oai: openai.AsyncOpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "weather in Paris"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    completion = await oai.chat.completions.create(model="fake-gpt", messages=messages, tools=[WEATHER])

    assert completion.choices[0].message.content == "tool said: 18C and sunny"
    assert completion.choices[0].finish_reason == "stop"


async def test_openai_n_gives_that_many_choices(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(model="fake-gpt", messages=USER, n=2)

    assert [choice.index for choice in completion.choices] == [0, 1]
    assert {choice.message.content for choice in completion.choices} == {"echo: hello brave new world"}


async def test_openai_max_tokens_truncates_with_length(oai: openai.AsyncOpenAI) -> None:
    legacy = await oai.chat.completions.create(model="fake-gpt", messages=USER, max_tokens=2)
    modern = await oai.chat.completions.create(model="fake-gpt", messages=USER, max_completion_tokens=3)

    assert legacy.choices[0].message.content == "echo: he"
    assert legacy.choices[0].finish_reason == "length"
    assert legacy.usage is not None and legacy.usage.completion_tokens == 2
    assert modern.choices[0].message.content == "echo: hello "
    assert modern.choices[0].finish_reason == "length"


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_openai_embeddings_are_deterministic_bags_of_words(oai: openai.AsyncOpenAI) -> None:
    texts = ["How do I reset my password?", "how can I reset my password please", "Quarterly revenue grew."]
    as_base64 = await oai.embeddings.create(model="fake-embed", input=texts)
    as_floats = await oai.embeddings.create(model="fake-embed", input=texts[0], encoding_format="float")

    vectors = [item.embedding for item in as_base64.data]
    assert [item.index for item in as_base64.data] == [0, 1, 2]
    assert all(len(vector) == 64 for vector in vectors)
    assert math.isclose(math.sqrt(_cosine(vectors[0], vectors[0])), 1.0, rel_tol=1e-5)
    assert as_floats.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)
    assert _cosine(vectors[0], vectors[1]) > 0.7
    assert _cosine(vectors[0], vectors[2]) < 0.3
    assert as_base64.usage.prompt_tokens == sum(count_tokens(text) for text in texts)


async def test_openai_models_lists_defaults_and_configured(
    fake: FakeProvider, oai: openai.AsyncOpenAI
) -> None:
    fake.configure("custom-model", Behaviour())

    ids = [model.id async for model in oai.models.list()]

    assert {"fake-gpt", "fake-embed", "custom-model"} <= set(ids)


async def test_openai_errors_map_to_client_exceptions(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.configure("fake-gpt", Behaviour(fail_times=1, fail_status=503))
    fake.configure("limited", Behaviour(fail_times=1, fail_status=429))

    with pytest.raises(openai.InternalServerError) as unavailable:
        await oai.chat.completions.create(model="fake-gpt", messages=USER)
    with pytest.raises(openai.RateLimitError) as limited:
        await oai.chat.completions.create(model="limited", messages=USER)
    with pytest.raises(openai.AuthenticationError) as refused:
        await oai.chat.completions.create(
            model="fake-gpt", messages=USER, extra_headers={"Authorization": "Basic bm9wZQ=="}
        )
    recovered = await oai.chat.completions.create(model="fake-gpt", messages=USER)

    assert unavailable.value.status_code == 503
    assert limited.value.response.headers["retry-after"] == "1"
    assert limited.value.code == "rate_limit_exceeded"
    assert refused.value.code == "invalid_api_key"
    assert recovered.choices[0].message.content == "echo: hello brave new world"


async def test_openai_rejects_malformed_json_and_missing_key(
    fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    url = fake.url + "/v1/chat/completions"
    async with http.post(url, data=b"{not json", headers=OPENAI_HEADERS) as malformed:
        malformed_body = await malformed.json()
    async with http.post(url, json=_chat()) as keyless:
        keyless_body = await keyless.json()

    assert malformed.status == 400 and malformed_body["error"]["type"] == "invalid_request_error"
    assert keyless.status == 401
    assert keyless_body["error"]["code"] == "invalid_api_key" and keyless_body["error"]["param"] is None


async def test_error_rate_is_seeded_and_partial(http: aiohttp.ClientSession) -> None:
    patterns: list[list[int]] = []
    for _ in range(2):
        async with FakeProvider(seed=3) as provider:
            provider.configure("*", Behaviour(error_rate=0.5, error_status=500))
            statuses = []
            for _ in range(20):
                async with http.post(
                    provider.url + "/v1/chat/completions", json=_chat(), headers=OPENAI_HEADERS
                ) as response:
                    statuses.append(response.status)
            patterns.append(statuses)

    assert patterns[0] == patterns[1]
    assert set(patterns[0]) == {200, 500}


async def test_anthropic_message_parses(fake: FakeProvider, claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(
        model="fake-claude",
        max_tokens=100,
        system=[{"type": "text", "text": "Be brief."}],
        messages=CLAUDE_USER,
    )

    assert (
        message.id.startswith("msg_") and message.model == "fake-claude-1"
    )  # the dated id of model_version 1
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: hello brave new world"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == count_tokens("Be brief.hello brave new world")
    assert message.usage.output_tokens == count_tokens("echo: hello brave new world")
    assert fake.requests[-1].headers["anthropic-version"]


async def test_anthropic_stream_final_message_matches_plain(claude: anthropic.AsyncAnthropic) -> None:
    plain = await claude.messages.create(model="fake-claude", max_tokens=100, messages=CLAUDE_USER)
    async with claude.messages.stream(model="fake-claude", max_tokens=100, messages=CLAUDE_USER) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert texts == ["echo: ", "hello ", "brave ", "new ", "world"]
    assert len(final.content) == 1
    assert [(block.type, block.text) for block in final.content if block.type == "text"] == [
        (block.type, block.text) for block in plain.content if block.type == "text"
    ]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert final.usage.input_tokens == plain.usage.input_tokens


async def test_anthropic_tools_plain_streamed_and_answered(claude: anthropic.AsyncAnthropic) -> None:
    ask: list[MessageParam] = [{"role": "user", "content": "weather in Paris"}]
    tools = [CLAUDE_WEATHER, CLAUDE_TIME]
    plain = await claude.messages.create(model="fake-claude", max_tokens=100, messages=ask, tools=tools)
    named = await claude.messages.create(
        model="fake-claude",
        max_tokens=100,
        messages=ask,
        tools=tools,
        tool_choice={"type": "tool", "name": "get_time"},
    )
    async with claude.messages.stream(
        model="fake-claude", max_tokens=100, messages=ask, tools=tools
    ) as stream:
        streamed = await stream.get_final_message()
    block = plain.content[0]
    assert block.type == "tool_use"
    answered = await claude.messages.create(
        model="fake-claude",
        max_tokens=100,
        tools=tools,
        messages=[
            *ask,
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": block.id, "name": block.name, "input": {}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "18C"}]},
        ],
    )

    assert plain.stop_reason == "tool_use"
    assert (block.name, block.input) == ("get_weather", {"input": "weather in Paris"})
    assert named.content[0].type == "tool_use" and named.content[0].name == "get_time"
    assert streamed.stop_reason == "tool_use"
    assert streamed.content[0].type == "tool_use" and streamed.content[0].input == {
        "input": "weather in Paris"
    }
    assert answered.content[0].type == "text" and answered.content[0].text == "tool said: 18C"


async def test_cache_tokens_follow_each_providers_semantics(
    fake: FakeProvider, claude: anthropic.AsyncAnthropic, oai: openai.AsyncOpenAI
) -> None:
    fake.configure("*", Behaviour(cache_read_tokens=100, cache_creation_tokens=50))
    message = await claude.messages.create(model="fake-claude", max_tokens=100, messages=CLAUDE_USER)
    completion = await oai.chat.completions.create(model="fake-gpt", messages=USER)

    prompt = count_tokens("hello brave new world")
    assert message.usage.input_tokens == prompt
    assert message.usage.cache_read_input_tokens == 100
    assert message.usage.cache_creation_input_tokens == 50
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens == count_tokens("Be brief.hello brave new world") + 150
    assert completion.usage.prompt_tokens_details.cached_tokens == 100


async def test_anthropic_max_tokens_stops_early(claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(model="fake-claude", max_tokens=2, messages=CLAUDE_USER)

    assert message.stop_reason == "max_tokens"
    assert message.content[0].type == "text" and message.content[0].text == "echo: he"


async def test_anthropic_errors_map_to_client_exceptions(
    fake: FakeProvider, claude: anthropic.AsyncAnthropic
) -> None:
    fake.configure("limited", Behaviour(fail_times=1, fail_status=429))
    fake.configure("busy", Behaviour(fail_times=1, fail_status=529))
    fake.configure("broken", Behaviour(fail_times=1, fail_status=500))

    with pytest.raises(anthropic.RateLimitError) as limited:
        await claude.messages.create(model="limited", max_tokens=10, messages=CLAUDE_USER)
    with pytest.raises(anthropic.InternalServerError) as busy:
        await claude.messages.create(model="busy", max_tokens=10, messages=CLAUDE_USER)
    with pytest.raises(anthropic.InternalServerError) as broken:
        await claude.messages.create(model="broken", max_tokens=10, messages=CLAUDE_USER)

    assert limited.value.response.headers["retry-after"] == "1"
    assert isinstance(limited.value.body, dict) and limited.value.body["error"]["type"] == "rate_limit_error"
    assert busy.value.status_code == 529
    assert isinstance(busy.value.body, dict) and busy.value.body["error"]["type"] == "overloaded_error"
    assert isinstance(broken.value.body, dict) and broken.value.body["error"]["type"] == "api_error"


async def test_anthropic_rejects_missing_headers_and_fields(
    fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    url = fake.url + "/v1/messages"
    body = {"model": "fake-claude", "max_tokens": 10, "messages": CLAUDE_USER}
    outcomes = []
    for headers, payload in [
        ({"anthropic-version": "2023-06-01"}, body),
        ({"x-api-key": "x"}, body),
        (ANTHROPIC_HEADERS, {"model": "fake-claude", "messages": CLAUDE_USER}),
    ]:
        async with http.post(url, json=payload, headers=headers) as response:
            outcomes.append((response.status, (await response.json())["error"]["type"]))

    assert outcomes == [
        (401, "authentication_error"),
        (400, "invalid_request_error"),
        (400, "invalid_request_error"),
    ]


async def test_anthropic_error_event_raises_while_iterating(
    fake: FakeProvider, claude: anthropic.AsyncAnthropic
) -> None:
    fake.configure("*", Behaviour(error_event_after_chunks=2))
    texts: list[str] = []

    with pytest.raises(anthropic.APIStatusError) as raised:
        async with claude.messages.stream(
            model="fake-claude", max_tokens=100, messages=CLAUDE_USER
        ) as stream:
            async for text in stream.text_stream:
                texts.append(text)

    assert texts == ["echo: ", "hello "]
    assert isinstance(raised.value.body, dict) and raised.value.body["error"]["type"] == "overloaded_error"


async def _seconds_to_headers(http: aiohttp.ClientSession, url: str, model: str) -> float:
    started = time.perf_counter()
    body = {**_chat(stream=True), "model": model}
    async with http.post(url + "/v1/chat/completions", json=body, headers=OPENAI_HEADERS) as response:
        elapsed = time.perf_counter() - started
        await response.read()
    return elapsed


async def test_stall_before_first_byte_and_latency_delay_headers(
    fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    fake.configure("stalled", Behaviour(stall_before_first_byte_ms=300))
    fake.configure("slow", Behaviour(latency_ms=200))
    await _seconds_to_headers(http, fake.url, "warm-up")

    assert await _seconds_to_headers(http, fake.url, "fake-gpt") < 0.1
    assert await _seconds_to_headers(http, fake.url, "stalled") >= 0.3
    assert await _seconds_to_headers(http, fake.url, "slow") >= 0.2


async def test_stall_after_chunks_pauses_the_stream(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    fake.configure("*", Behaviour(stall_after_chunks=2, stall_ms=250))
    arrivals: list[float] = []
    async with http.post(
        fake.url + "/v1/chat/completions", json=_chat(stream=True), headers=OPENAI_HEADERS
    ) as r:
        async for line in r.content:
            if b'"content": "' in line:
                arrivals.append(time.perf_counter())
    gaps = [later - earlier for earlier, later in pairwise(arrivals)]

    assert len(arrivals) == 1 + 41
    assert gaps[2] >= 0.25
    assert max(gaps[:2] + gaps[3:]) < 0.1


async def test_cut_after_chunks_breaks_the_stream(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    fake.configure("*", Behaviour(cut_after_chunks=3))
    pieces: list[str] = []

    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(
            fake.url + "/v1/chat/completions", json=_chat(stream=True), headers=OPENAI_HEADERS
        ) as response:
            async for line in response.content:
                if line.startswith(b"data: {"):
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    pieces.extend([delta["content"]] if delta.get("content") else [])

    assert pieces == ["echo: ", "word0 ", "word1 "]
    assert fake.cancelled_streams == 0


async def test_openai_error_event_raises_while_iterating(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.configure("*", Behaviour(error_event_after_chunks=1))
    received: list[str] = []

    with pytest.raises(openai.APIError) as raised:
        stream = await oai.chat.completions.create(model="fake-gpt", messages=USER, stream=True)
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    assert received == ["", "echo: "]
    assert isinstance(raised.value.body, dict) and raised.value.body["type"] == "server_error"


async def test_reply_and_chunks_knobs_shape_the_stream(
    fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    fake.configure("*", Behaviour(reply="a fixed answer of some length", chunks=3))
    async with http.post(
        fake.url + "/v1/chat/completions", json=_chat(stream=True), headers=OPENAI_HEADERS
    ) as r:
        pieces = await _content_chunks(r)

    assert len(pieces) == 3
    assert "".join(pieces) == "a fixed answer of some length"


async def test_control_endpoints_drive_a_running_fake(
    fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        fake.url + "/_fake/behaviour", json={"model": "fake-gpt", "fail_times": 1}
    ) as configured:
        assert configured.status == 200
    async with http.post(fake.url + "/_fake/behaviour", json={"model": "x", "nonsense": 1}) as refused:
        assert refused.status == 400
    statuses = []
    for _ in range(2):
        async with http.post(fake.url + "/v1/chat/completions", json=_chat(), headers=OPENAI_HEADERS) as r:
            statuses.append(r.status)
    async with http.get(fake.url + "/_fake/requests") as listed:
        log = await listed.json()
    async with http.post(fake.url + "/_fake/reset") as reset:
        assert reset.status == 200
    async with http.get(fake.url + "/_fake/requests") as listed_again:
        emptied = await listed_again.json()

    assert statuses == [503, 200]
    assert log["count"] == 2
    assert log["requests"] == [{"path": "/v1/chat/completions", "model": "fake-gpt", "body": _chat()}] * 2
    assert emptied["count"] == 0 and fake.requests == []


async def test_client_disconnect_cancels_the_stream(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    fake.configure("*", Behaviour(chunk_delay_ms=30))
    response = await http.post(
        fake.url + "/v1/chat/completions", json=_chat(stream=True), headers=OPENAI_HEADERS
    )
    await response.content.readline()
    assert fake.active_streams == 1

    response.close()
    for _ in range(50):
        if fake.cancelled_streams:
            break
        await asyncio.sleep(0.02)

    assert fake.cancelled_streams == 1
    assert fake.active_streams == 0


async def test_runs_as_a_demo_subprocess(http: aiohttp.ClientSession) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.provider", "--port", "0", stdout=asyncio.subprocess.PIPE, cwd=REPO
    )
    assert process.stdout is not None
    banner = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
    url = banner.removeprefix(BANNER).strip()
    async with http.post(url + "/v1/chat/completions", json=_chat(), headers=OPENAI_HEADERS) as response:
        status = response.status

    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), 5)

    assert banner.startswith(BANNER) and url.startswith("http://127.0.0.1:")
    assert status == 200
    assert code == 0
