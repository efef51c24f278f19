"""The fake's Responses API read back with the official ``openai`` client: objects, the event stream,
tool calls and their results, truncation, errors, and the knobs it shares with chat."""

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam

from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider

WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    async with FakeProvider(seed=7) as provider:
        yield provider


async def test_a_text_answer_parses_into_the_sdks_objects(oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(
        model="fake-gpt", input="hello brave new world", instructions="Be brief.", metadata={"a": "b"}
    )
    assert response.output_text == "echo: hello brave new world"
    assert response.status == "completed" and response.id.startswith("resp_")
    assert response.model.startswith("fake-gpt") and response.metadata == {"a": "b"}
    assert response.instructions == "Be brief."
    usage = response.usage
    assert usage is not None and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0


async def test_a_stream_is_the_documented_sequence_and_ends_with_the_plain_answer(
    oai: openai.AsyncOpenAI,
) -> None:
    plain = await oai.responses.create(model="fake-gpt", input="one two three")
    kinds: list[str] = []
    numbers: list[int] = []
    deltas: list[str] = []
    final: Any = None
    async with oai.responses.stream(model="fake-gpt", input="one two three") as stream:
        async for event in stream:
            kinds.append(event.type)
            numbers.append(event.sequence_number)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = await stream.get_final_response()
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert numbers == list(range(len(kinds))) and len(deltas) == 4
    assert "".join(deltas) == final.output_text == plain.output_text
    assert final.usage is not None and plain.usage is not None
    assert final.usage.output_tokens == plain.usage.output_tokens


async def test_a_tool_is_called_and_its_result_answered(oai: openai.AsyncOpenAI) -> None:
    called = await oai.responses.create(model="fake-gpt", input="weather in Oslo?", tools=[WEATHER])
    (call,) = called.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.arguments == '{"input": "weather in Oslo?"}' and call.call_id.startswith("call_")
    answered = await oai.responses.create(
        model="fake-gpt",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "weather in Oslo?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert answered.output_text == "tool said: sunny"


async def test_a_streamed_tool_call_arrives_in_argument_pieces(oai: openai.AsyncOpenAI) -> None:
    pieces: list[str] = []
    async with oai.responses.stream(model="fake-gpt", input="weather in Oslo?", tools=[WEATHER]) as stream:
        async for event in stream:
            if event.type == "response.function_call_arguments.delta":
                pieces.append(event.delta)
        final = await stream.get_final_response()
    (call,) = final.output
    assert call.type == "function_call" and len(pieces) > 1 and "".join(pieces) == call.arguments


async def test_max_output_tokens_makes_it_incomplete(oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(
        model="fake-gpt", input=" ".join(["word"] * 40), max_output_tokens=16
    )
    assert response.status == "incomplete" and response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens <= 16


async def test_it_holds_no_responses_so_a_previous_id_is_refused(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await oai.responses.create(model="fake-gpt", input="again", previous_response_id="resp_1")
    assert refused.value.param == "previous_response_id"


async def test_failures_and_error_events_reach_the_client(
    fake: FakeProvider, oai: openai.AsyncOpenAI
) -> None:
    fake.configure("fake-gpt", Behaviour(fail_times=1, fail_status=429))
    with pytest.raises(openai.RateLimitError):
        await oai.responses.create(model="fake-gpt", input="hi")
    fake.configure("fake-gpt", Behaviour(error_event_after_chunks=1, reply="a b c"))
    kinds: list[str] = []
    stream = await oai.responses.create(model="fake-gpt", input="hi", stream=True)
    async for event in stream:
        kinds.append(event.type)
    assert kinds[-1] == "error" and "response.completed" not in kinds
    assert fake.count(path="/v1/responses") == 2


async def test_the_prompt_cache_counts_a_repeated_long_prefix(
    fake: FakeProvider, oai: openai.AsyncOpenAI
) -> None:
    fake.configure("fake-gpt", Behaviour(cache_pods=1))
    long = "A stable preamble. " * 400
    first = await oai.responses.create(model="fake-gpt", instructions=long, input="one")
    second = await oai.responses.create(model="fake-gpt", instructions=long, input="two")
    assert first.usage is not None and second.usage is not None
    assert first.usage.input_tokens_details.cached_tokens == 0
    assert second.usage.input_tokens_details.cached_tokens >= 1024
