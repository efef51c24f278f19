"""``/v1/responses`` to a provider that serves the Responses API itself (``responses_api = true``),
through a real origin with the official ``openai`` client: the request goes out natively with the
whole stored conversation and ``store: false``, the answer comes back as Prism's (its id, the public
model name), streamed events relayed in the upstream's order, tool calls round trip over
``previous_response_id``, cached tokens reach the usage row, the exact cache serves it again, and a
fallback to an Anthropic model translates the same conversation."""

import json
from typing import Any

import httpx
import openai
import pytest

from origin.stores import postgres
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import usage_row

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client(origin: RunningOrigin, key: str, *, cache: bool = False) -> openai.AsyncOpenAI:
    headers = None if cache else {"Cache-Control": "no-store"}
    return openai.AsyncOpenAI(
        base_url=f"{origin.url}/v1", api_key=key, max_retries=0, timeout=20, default_headers=headers
    )


def sent(fake: FakeProvider) -> dict[str, Any]:
    request = fake.requests[-1]
    assert request.path == "/v1/responses" and request.json is not None
    return request.json


async def test_a_response_is_asked_natively_and_answered_as_prisms(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key)
    raw = await prism.responses.with_raw_response.create(
        model="omni", input="hello there", instructions="Be terse.", metadata={"ticket": "7"}
    )
    response = raw.parse()
    assert response.output_text == "echo: hello there" and response.status == "completed"
    assert response.model == "omni" and response.id.startswith("resp_")
    assert response.metadata == {"ticket": "7"} and response.to_dict()["store"] is True
    body = sent(fake)
    assert body["model"] == "omni-up" and body["store"] is False and body["instructions"] == "Be terse."
    assert body["input"] == [{"type": "message", "role": "user", "content": "hello there"}]
    assert "previous_response_id" not in body and "stream" not in body
    assert (await prism.responses.retrieve(response.id)).output_text == response.output_text

    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert (row["model_used"], row["provider"], row["success"]) == ("omni", "fakeresp", True)
    assert response.usage is not None
    assert (row["tokens_in"], row["tokens_out"]) == (
        response.usage.input_tokens,
        response.usage.output_tokens,
    )
    assert row["model_version"].startswith("omni-up-")
    assert float(raw.headers["x-prism-cost-cents"]) == pytest.approx(float(row["cost_total_cents"]))


async def test_cached_tokens_are_recorded_and_priced(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    fake.configure("omni-up", Behaviour(cache_read_tokens=40))
    raw = await client(origin, api_key).responses.with_raw_response.create(model="omni", input="cached?")
    usage = raw.parse().usage
    assert usage is not None and usage.input_tokens_details.cached_tokens == 40
    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert (row["tokens_in"], row["tokens_cached_in"]) == (usage.input_tokens, 40)


async def test_a_stream_relays_the_upstreams_events_under_prisms_response(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key)
    stream = await prism.responses.create(model="omni", input="stream to me", stream=True)
    events = [event async for event in stream]
    kinds = [event.type for event in events]
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
    assert [event.sequence_number for event in events] == list(range(len(events)))
    final = events[-1].response  # type: ignore[union-attr]
    ids = {event.response.id for event in events if hasattr(event, "response")}  # type: ignore[union-attr]
    assert ids == {final.id} and final.model == "omni" and final.output_text == "echo: stream to me"
    assert sent(fake)["stream"] is True and sent(fake)["store"] is False
    row = await usage_row(origin, pool, stream.response.headers["x-prism-request-id"])
    assert row["was_streaming"] and (row["model_used"], row["provider"]) == ("omni", "fakeresp")
    assert final.usage is not None and row["tokens_out"] == final.usage.output_tokens > 0
    assert (await prism.responses.retrieve(final.id)).output_text == final.output_text

    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.post(
            "/v1/responses",
            json={"model": "omni", "input": "x", "stream": True},
            headers={"Authorization": f"Bearer {api_key}", "Cache-Control": "no-store"},
        )
    _, comment, after = response.content.partition(b": prism cost_cents=")
    assert comment and after.split(b"\n\n", 1)[1].startswith(b"event: response.completed\n")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_call_round_trip_sends_the_whole_conversation(
    origin: RunningOrigin, api_key: str, fake: FakeProvider, stream: bool
) -> None:
    prism = client(origin, api_key)

    async def create(**ask: Any) -> Any:
        if not stream:
            return await prism.responses.create(model="omni", tools=[WEATHER], **ask)  # type: ignore[list-item]
        async with prism.responses.stream(model="omni", tools=[WEATHER], **ask) as events:  # type: ignore[list-item]
            return await events.get_final_response()

    first = await create(input="Paris")
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"input": "Paris"}
    assert sent(fake)["tools"] == [WEATHER]

    result = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}
    second = await create(input=[result], previous_response_id=first.id)
    assert second.output_text == "tool said: sunny, 21C" and second.previous_response_id == first.id
    body = sent(fake)
    assert "previous_response_id" not in body and body["store"] is False
    user, called, output = body["input"]
    assert user == {"type": "message", "role": "user", "content": "Paris"}
    assert (called["type"], called["call_id"], called["name"]) == (
        "function_call",
        call.call_id,
        "get_weather",
    )
    assert output == result


FILE_QUESTION = [
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "summarise"},
            {"type": "input_file", "file_id": "file-1"},
        ],
    }
]


async def test_hosted_tools_and_files_go_natively_but_not_by_translation(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key)
    answered = await prism.responses.create(
        model="omni",
        input=FILE_QUESTION,  # type: ignore[arg-type]
        tools=[{"type": "web_search"}],
        include=["reasoning.encrypted_content"],
    )
    assert answered.status == "completed"
    body = sent(fake)
    assert body["tools"] == [{"type": "web_search"}] and body["include"] == ["reasoning.encrypted_content"]
    assert body["input"][0]["content"] == FILE_QUESTION[0]["content"]
    for refused_ask in ({"input": "news?", "tools": [{"type": "web_search"}]}, {"input": FILE_QUESTION}):
        with pytest.raises(openai.BadRequestError) as refused:
            await prism.responses.create(model="alpha", **refused_ask)  # type: ignore[arg-type]
        assert refused.value.code == "unsupported_parameter" and "alpha" in refused.value.message


async def test_the_same_request_is_served_from_the_cache(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, cache=True)
    first = await prism.responses.with_raw_response.create(model="omni", input="cache me natively")
    again = await prism.responses.with_raw_response.create(model="omni", input="cache me natively")
    assert [first.headers["x-prism-cache"], again.headers["x-prism-cache"]] == ["miss", "hit-exact"]
    assert again.parse().output_text == first.parse().output_text and again.parse().id != first.parse().id
    stream = await prism.responses.create(model="omni", input="cache me natively", stream=True)
    replayed = [event async for event in stream][-1].response  # type: ignore[union-attr]
    assert replayed.output_text == first.parse().output_text and replayed.model == "omni"
    assert fake.count("omni-up") == 1
    row = await usage_row(origin, pool, again.headers["x-prism-request-id"])
    assert (row["cache_status"], float(row["cost_total_cents"])) == ("hit-exact", 0.0)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_failing_native_model_falls_back_to_a_translated_one(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider, stream: bool
) -> None:
    prism = client(origin, api_key)
    first = await prism.responses.create(model="omni", input="remember me")
    fake.configure("omni-up", Behaviour(fail_times=100, fail_status=503))
    raw = await prism.responses.with_raw_response.create(
        model="omni", input="and now?", previous_response_id=first.id, stream=stream
    )
    if stream:
        events = [event async for event in raw.parse()]
        answer = events[-1].response  # type: ignore[union-attr]
    else:
        answer = raw.parse()
    assert raw.headers["x-prism-model"] == "claude" and answer.model == "claude"
    assert answer.output_text == "echo: and now?"
    relayed = fake.requests[-1]
    assert relayed.path == "/v1/messages" and relayed.json is not None
    assert [message["role"] for message in relayed.json["messages"]] == ["user", "assistant", "user"]
    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert (row["model_used"], row["provider"]) == ("claude", "fakeant")


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour(error_event_after_chunks=1, reply="one two three four"),
        Behaviour(cut_after_chunks=2, reply="one two three four"),
    ],
    ids=["error-event", "cut"],
)
async def test_a_stream_that_fails_upstream_ends_with_an_error_event(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider, behaviour: Behaviour
) -> None:
    fake.configure("omni-up", behaviour)
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.post(
            "/v1/responses",
            json={"model": "omni", "input": "x", "stream": True},
            headers={"Authorization": f"Bearer {api_key}", "Cache-Control": "no-store"},
        )
    assert response.status_code == 200
    last = response.content.strip().split(b"\n\n")[-1]
    assert last.startswith(b"event: error\n")
    error = json.loads(last.split(b"data: ", 1)[1])
    assert error["code"] == "upstream_stream_error" and error["message"]
    assert b"response.completed" not in response.content
    row = await usage_row(origin, pool, response.headers["x-prism-request-id"])
    assert (row["status_code"], row["success"]) == (502, False)
