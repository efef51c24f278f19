"""The prompt cache on the wire, read back through the official OpenAI and Anthropic clients."""

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from anthropic.types import MessageParam, TextBlockParam, ToolParam
from openai.types.chat import ChatCompletionMessageParam

from tests.clock import Clock
from tests.fakes.behaviour import Behaviour, count_tokens
from tests.fakes.provider import FakeProvider

SYSTEM = "s" * (4 * 1200)
QUESTION = "q" * (4 * 300)
CHAT: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": QUESTION},
]
ONE_POD = Behaviour(cache_pods=1)
HEADERS = {"x-api-key": "x", "anthropic-version": "2023-06-01"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeProvider]:
    async with FakeProvider(seed=7, clock=clock) as provider:
        yield provider


def _system(ttl: str | None) -> list[TextBlockParam]:
    if ttl is None:
        return [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    return [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]


def _turn(text: str, cached: bool) -> MessageParam:
    if not cached:
        return {"role": "user", "content": text}
    return {
        "role": "user",
        "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}],
    }


async def _cached_tokens(client: openai.AsyncOpenAI, **extra: Any) -> tuple[int, int]:
    completion = await client.chat.completions.create(model="fake-gpt", messages=CHAT, **extra)
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    return completion.usage.prompt_tokens, completion.usage.prompt_tokens_details.cached_tokens or 0


async def test_openai_reads_the_floor_of_a_repeated_prompt(
    fake: FakeProvider, oai: openai.AsyncOpenAI
) -> None:
    fake.configure("fake-gpt", ONE_POD)

    first, second = await _cached_tokens(oai), await _cached_tokens(oai)

    assert first == (1500, 0)
    assert second == (1500, 1408)


async def test_openai_streams_cached_tokens_in_the_usage_chunk(
    fake: FakeProvider, oai: openai.AsyncOpenAI
) -> None:
    fake.configure("fake-gpt", ONE_POD)
    await _cached_tokens(oai)
    stream = await oai.chat.completions.create(
        model="fake-gpt", messages=CHAT, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]

    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert usage is not None and usage.prompt_tokens_details is not None
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens) == (1500, 1408)
    assert usage.total_tokens == 1500 + usage.completion_tokens


async def test_openai_prompt_cache_key_keeps_the_session_warm(oai: openai.AsyncOpenAI) -> None:
    keyed = [(await _cached_tokens(oai, prompt_cache_key="session-1"))[1] for _ in range(6)]
    unkeyed = [(await _cached_tokens(oai))[1] for _ in range(6)]

    assert keyed == [0, 1408, 1408, 1408, 1408, 1408]
    assert 0 in unkeyed[1:]


async def test_static_knobs_replace_the_cache(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.configure("fake-gpt", Behaviour(cache_pods=1, cache_read_tokens=100))

    assert [await _cached_tokens(oai) for _ in range(2)] == [(1600, 100)] * 2


async def test_the_cache_can_be_switched_off_or_flushed(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.configure("fake-gpt", Behaviour(cache_pods=1, prompt_cache=False))
    off = [await _cached_tokens(oai) for _ in range(2)]
    fake.configure("fake-gpt", ONE_POD)
    warmed = [await _cached_tokens(oai) for _ in range(2)]
    fake.flush_prompt_cache()
    flushed = await _cached_tokens(oai)

    assert off == [(1500, 0)] * 2
    assert warmed == [(1500, 0), (1500, 1408)]
    assert flushed == (1500, 0)


async def test_a_new_model_version_over_http_empties_the_cache(
    fake: FakeProvider, oai: openai.AsyncOpenAI
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(fake.url + "/_fake/behaviour", json={"cache_pods": 1}) as configured:
            assert configured.status == 200
        warm = [await _cached_tokens(oai) for _ in range(2)]
        knobs = {"cache_pods": 1, "model_version": "2025-06", "prompt_cache": True}
        async with http.post(fake.url + "/_fake/behaviour", json=knobs) as bumped:
            assert bumped.status == 200
        after = await _cached_tokens(oai)

    assert [cached for _, cached in warm] == [0, 1408]
    assert after == (1500, 0)


async def test_anthropic_writes_by_lifetime_then_reads(
    fake: FakeProvider, claude: anthropic.AsyncAnthropic
) -> None:
    fake.configure("fake-claude", ONE_POD)
    messages: list[MessageParam] = [
        _turn(QUESTION, cached=True),
        {"role": "assistant", "content": "ok"},
        _turn("and?", False),
    ]

    first = await claude.messages.create(
        model="fake-claude", max_tokens=50, system=_system("1h"), messages=messages
    )
    second = await claude.messages.create(
        model="fake-claude", max_tokens=50, system=_system("1h"), messages=messages
    )

    tail = count_tokens("okand?")
    assert first.usage.cache_creation is not None and second.usage.cache_creation is not None
    assert (first.usage.input_tokens, first.usage.cache_read_input_tokens) == (tail, 0)
    assert first.usage.cache_creation_input_tokens == 1500
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == 1200
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 300
    assert (second.usage.input_tokens, second.usage.cache_read_input_tokens) == (tail, 1500)
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_creation.ephemeral_1h_input_tokens == 0


async def test_anthropic_entries_expire_on_the_clock(
    fake: FakeProvider, clock: Clock, claude: anthropic.AsyncAnthropic
) -> None:
    fake.configure("fake-claude", ONE_POD)
    tools: list[ToolParam] = [{"name": "get_time", "input_schema": {"type": "object"}}]
    reads = []
    for wait in (0, 299, 301):
        clock.now += wait
        message = await claude.messages.create(
            model="fake-claude",
            max_tokens=50,
            system=_system(None),
            tools=tools,
            messages=[_turn("hi", False)],
        )
        reads.append(message.usage.cache_read_input_tokens)

    assert reads == [0, 1200, 0]


async def test_anthropic_below_the_minimum_is_not_cached(
    fake: FakeProvider, claude: anthropic.AsyncAnthropic
) -> None:
    fake.configure("*", ONE_POD)
    usages = [
        (
            await claude.messages.create(
                model=model, max_tokens=50, system=_system(None), messages=[_turn(QUESTION, cached=True)]
            )
        ).usage
        for model in ("fake-claude-haiku", "fake-claude-haiku", "fake-claude")
    ]

    assert [(u.input_tokens, u.cache_creation_input_tokens) for u in usages] == [
        (1500, 0),
        (1500, 0),
        (0, 1500),
    ]


async def test_anthropic_stream_reports_usage_in_start_and_delta(
    fake: FakeProvider, claude: anthropic.AsyncAnthropic
) -> None:
    fake.configure("fake-claude", ONE_POD)
    request: dict[str, Any] = {
        "model": "fake-claude",
        "max_tokens": 50,
        "system": _system("1h"),
        "messages": [_turn("hello", False)],
    }
    await claude.messages.create(**request)
    async with claude.messages.stream(**request) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_message()

    start = next(event for event in events if event.type == "message_start")
    delta = next(event for event in events if event.type == "message_delta")
    assert start.message.usage.output_tokens == 1
    assert (start.message.usage.input_tokens, start.message.usage.cache_read_input_tokens) == (2, 1200)
    assert start.message.usage.cache_creation is not None
    assert start.message.usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert delta.usage.output_tokens == count_tokens("echo: hello")
    assert (delta.usage.input_tokens, delta.usage.cache_read_input_tokens) == (2, 1200)
    assert delta.usage.cache_creation_input_tokens == 0
    assert final.usage.cache_read_input_tokens == 1200


async def test_anthropic_refuses_a_fifth_breakpoint(fake: FakeProvider) -> None:
    block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    body = {"model": "fake-claude", "max_tokens": 5, "messages": [{"role": "user", "content": [block] * 5}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(fake.url + "/v1/messages", json=body, headers=HEADERS) as response:
            status, answer = response.status, await response.json()

    assert status == 400
    assert answer["error"]["message"] == "A maximum of 4 blocks with cache_control may be provided. Found 5."


async def test_requests_log_lists_each_body_as_sent(
    fake: FakeProvider, claude: anthropic.AsyncAnthropic
) -> None:
    await claude.messages.create(
        model="fake-claude", max_tokens=5, system=_system("1h"), messages=[_turn("hi", False)]
    )
    async with aiohttp.ClientSession() as http:
        async with http.get(fake.url + "/_fake/requests") as listed:
            log = await listed.json()

    assert log["requests"] == [
        {
            "path": "/v1/messages",
            "model": "fake-claude",
            "body": {
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
                "model": "fake-claude",
                "system": _system("1h"),
            },
        }
    ]
    assert json.loads(json.dumps(log["requests"][0]["body"])) == fake.requests[0].json


async def test_anthropic_refuses_an_hour_breakpoint_after_a_five_minute_one(
    fake: FakeProvider, claude: anthropic.AsyncAnthropic
) -> None:
    late_hour: list[MessageParam] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": QUESTION, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ],
        }
    ]
    with pytest.raises(anthropic.BadRequestError) as raised:
        await claude.messages.create(
            model="fake-claude", max_tokens=5, system=_system(None), messages=late_hour
        )
    assert "must not come after" in raised.value.message
    hour_first = await claude.messages.create(
        model="fake-claude", max_tokens=5, system=_system("1h"), messages=[_turn(QUESTION, cached=True)]
    )
    assert hour_first.usage.cache_creation_input_tokens == 1500


async def test_anthropic_top_level_cache_control_marks_the_last_block(
    fake: FakeProvider, claude: anthropic.AsyncAnthropic
) -> None:
    fake.configure("fake-claude", ONE_POD)
    messages: list[MessageParam] = [{"role": "user", "content": QUESTION}]
    automatic = {"cache_control": {"type": "ephemeral"}}
    first = await claude.messages.create(
        model="fake-claude", max_tokens=5, system=SYSTEM, messages=messages, extra_body=automatic
    )
    second = await claude.messages.create(
        model="fake-claude", max_tokens=5, system=SYSTEM, messages=messages, extra_body=automatic
    )
    unmarked = await claude.messages.create(
        model="fake-claude", max_tokens=5, system=SYSTEM, messages=messages
    )
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (1500, 0)
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (0, 1500)
    assert (unmarked.usage.cache_creation_input_tokens, unmarked.usage.cache_read_input_tokens) == (0, 0)
