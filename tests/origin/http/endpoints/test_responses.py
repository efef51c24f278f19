"""``/v1/responses`` through a real origin with the official ``openai`` client: text and items,
instructions, tools and their results, ``text.format``, the event stream, ``previous_response_id``
chains over stored responses, ``GET`` and ``DELETE``, the exact cache, fallbacks, Anthropic models
by translation, refusals, and one usage row per request."""

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import openai
import pytest
from pydantic import BaseModel

from origin.stores import postgres
from origin.stores.responses import ResponseStore
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, free_port
from tests.origin.helpers import fresh_project, usage_row

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client(origin: RunningOrigin, key: str, *, cache: bool = False, **headers: str) -> openai.AsyncOpenAI:
    """Without ``cache`` every request reaches the upstream."""
    if not cache:
        headers = {"Cache-Control": "no-store", **headers}
    return openai.AsyncOpenAI(
        base_url=f"{origin.url}/v1", api_key=key, max_retries=0, timeout=20, default_headers=headers or None
    )


def sent_messages(fake: FakeProvider) -> list[Any]:
    body = fake.requests[-1].json
    assert body is not None
    messages: list[Any] = body["messages"]
    return messages


async def test_a_text_input_answers_is_stored_and_can_be_read_and_deleted(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, **{"X-Prism-Session": "resp-1", "X-Prism-Tags": "feature=agent"})
    raw = await prism.responses.with_raw_response.create(
        model="alpha",
        input="hello there",
        instructions="Be terse.",
        max_output_tokens=300,
        metadata={"ticket": "42"},
    )
    response = raw.parse()
    assert response.output_text == "echo: hello there" and response.status == "completed"
    assert (
        response.id.startswith("resp_")
        and response.model == "alpha"
        and response.metadata == {"ticket": "42"}
    )
    assert response.usage is not None and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    sent = fake.requests[-1].json
    assert sent is not None and fake.requests[-1].path == "/v1/chat/completions"
    assert sent["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "hello there"},
    ]
    assert sent["max_completion_tokens"] == 300

    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert (row["model_used"], row["provider"], row["session_id"]) == ("alpha", "fakeoai", "resp-1")
    assert (row["tokens_in"], row["tokens_out"]) == (
        response.usage.input_tokens,
        response.usage.output_tokens,
    )
    assert row["task_type"] and '"feature": "agent"' in row["request_tags"] and not row["was_streaming"]
    assert raw.headers["x-prism-cost-cents"] == f"{float(row['cost_total_cents']):.6f}"

    fetched = await prism.responses.retrieve(response.id)
    assert fetched.to_dict() == response.to_dict()
    await prism.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError) as gone:
        await prism.responses.retrieve(response.id)
    assert gone.value.code == "response_not_found"
    with pytest.raises(openai.NotFoundError):
        await prism.responses.delete(response.id)


async def test_a_stream_sends_the_documented_events_in_order(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str
) -> None:
    prism = client(origin, api_key)
    kinds: list[str] = []
    numbers: list[int] = []
    stream = await prism.responses.create(model="alpha", input="stream to me", stream=True)
    final: Any = None
    async for event in stream:
        kinds.append(event.type)
        numbers.append(event.sequence_number)
        if event.type == "response.completed":
            final = event.response
    request_id = stream.response.headers["x-prism-request-id"]
    assert final.output_text == "echo: stream to me" and final.status == "completed"
    first_delta = kinds.index("response.output_text.delta")
    assert kinds[:first_delta] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[kinds.index("response.output_text.done") :] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert numbers == list(range(len(kinds)))
    row = await usage_row(origin, pool, request_id)
    assert row["was_streaming"] and row["model_used"] == "alpha"
    assert final.usage is not None and row["tokens_out"] == final.usage.output_tokens > 0
    assert (await prism.responses.retrieve(final.id)).output_text == final.output_text

    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.post(
            "/v1/responses",
            json={"model": "alpha", "input": "x", "stream": True},
            headers={"Authorization": f"Bearer {api_key}", "Cache-Control": "no-store"},
        )
    _, comment, after = response.content.partition(b": prism cost_cents=")
    assert comment and after.split(b"\n\n", 1)[1].startswith(b"event: response.completed\n")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_call_round_trip_continues_by_previous_response_id(
    origin: RunningOrigin, api_key: str, fake: FakeProvider, stream: bool
) -> None:
    prism = client(origin, api_key)

    async def create(**ask: Any) -> Any:
        if not stream:
            return await prism.responses.create(model="alpha", tools=[WEATHER], **ask)  # type: ignore[list-item]
        async with prism.responses.stream(model="alpha", tools=[WEATHER], **ask) as events:  # type: ignore[list-item]
            return await events.get_final_response()

    first = await create(input="Paris")
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"input": "Paris"}
    sent = fake.requests[-1].json
    assert sent is not None and sent["tools"][0]["function"]["parameters"] == WEATHER["parameters"]

    result = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}
    second = await create(input=[result], previous_response_id=first.id)
    assert second.output_text == "tool said: sunny, 21C" and second.previous_response_id == first.id
    relayed = sent_messages(fake)
    assert relayed[0] == {"role": "user", "content": "Paris"}
    assert relayed[1]["tool_calls"][0]["id"] == call.call_id
    assert relayed[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny, 21C"}


async def test_a_chain_carries_the_conversation_but_not_the_instructions(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key)
    one = await prism.responses.create(model="alpha", input="first", instructions="Old rules.")
    two = await prism.responses.create(model="alpha", input="second", previous_response_id=one.id)
    three = await prism.responses.create(
        model="alpha",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "third"}]}],
        previous_response_id=two.id,
        instructions="New rules.",
    )
    assert three.output_text == "echo: third"
    assert sent_messages(fake) == [
        {"role": "system", "content": "New rules."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "echo: first"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "echo: second"},
        {"role": "user", "content": "third"},
    ]
    unkept = await prism.responses.create(model="alpha", input="forget me", store=False)
    assert unkept.to_dict()["store"] is False
    for missing in (unkept.id, "resp_nope"):
        with pytest.raises(openai.NotFoundError) as refused:
            await prism.responses.create(model="alpha", input="more", previous_response_id=missing)
        assert refused.value.code == "previous_response_not_found"
        assert refused.value.param == "previous_response_id"


async def test_stored_responses_belong_to_their_project(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str
) -> None:
    mine = await client(origin, api_key).responses.create(model="alpha", input="private")
    other_key, _ = await fresh_project(origin, pool, "resp-other-org")
    other = client(origin, other_key)
    with pytest.raises(openai.NotFoundError):
        await other.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.create(model="alpha", input="peek", previous_response_id=mine.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.input_items.list(mine.id)


async def test_the_input_items_are_listed_as_the_sdk_pages_them(origin: RunningOrigin, api_key: str) -> None:
    prism = client(origin, api_key)
    plain = await prism.responses.create(model="alpha", input="just text")
    [item] = (await prism.responses.input_items.list(plain.id)).data
    assert item.type == "message" and item.role == "user" and item.status == "completed"  # type: ignore[union-attr]
    assert item.content[0].type == "input_text" and item.content[0].text == "just text"  # type: ignore[union-attr]

    asked = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "input_text", "text": "one"}]},
        {"type": "message", "role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    several = await prism.responses.create(model="alpha", input=asked)  # type: ignore[arg-type]
    newest_first = (await prism.responses.input_items.list(several.id)).data
    texts = [part.text for entry in newest_first for part in entry.content]  # type: ignore[union-attr]
    assert texts == ["three", "two", "one", "be brief"]
    assert newest_first[1].content[0].type == "output_text"  # type: ignore[union-attr]
    ids = [entry.id for entry in newest_first]
    assert len(set(ids)) == 4 and ids == [
        e.id for e in (await prism.responses.input_items.list(several.id)).data
    ]

    first_page = await prism.responses.input_items.list(several.id, order="asc", limit=3)
    assert [entry.id for entry in first_page.data] == ids[::-1][:3] and first_page.has_more
    everything = [
        entry.id async for entry in await prism.responses.input_items.list(several.id, order="asc", limit=3)
    ]
    assert everything == ids[::-1]  # the SDK follows `after` to the last page

    for params, param in [
        ({"limit": 0}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"after": "msg_nope"}, "after"),
    ]:
        with pytest.raises(openai.BadRequestError) as refused:
            await prism.responses.input_items.list(several.id, **params)  # type: ignore[arg-type]
        assert refused.value.param == param
    unkept = await prism.responses.create(model="alpha", input="not kept", store=False)
    with pytest.raises(openai.NotFoundError) as missing:
        await prism.responses.input_items.list(unkept.id)
    assert missing.value.code == "response_not_found"


async def test_text_format_json_schema_becomes_the_response_format(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    class Weather(BaseModel):
        city: str
        celsius: int

    fake.configure("alpha", Behaviour(reply='{"city": "Paris", "celsius": 21}'))
    parsed = await client(origin, api_key).responses.parse(
        model="alpha", input="weather?", text_format=Weather
    )
    assert parsed.output_parsed == Weather(city="Paris", celsius=21)
    sent = fake.requests[-1].json
    assert sent is not None and sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "Weather"
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["celsius"] == {
        "title": "Celsius",
        "type": "integer",
    }


async def test_an_anthropic_model_answers_by_translation(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    raw = await client(origin, api_key).responses.with_raw_response.create(
        model="claude", input="bonjour", instructions="Reply in kind.", max_output_tokens=100
    )
    response = raw.parse()
    assert response.output_text == "echo: bonjour" and response.model == "claude"
    sent = fake.requests[-1].json
    assert fake.requests[-1].path == "/v1/messages" and sent is not None
    assert sent["max_tokens"] == 100 and "Reply in kind." in json.dumps(sent["system"])
    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert (row["provider"], row["tokens_out"]) == (
        "fakeant",
        response.usage and response.usage.output_tokens,
    )


async def test_the_same_request_is_served_from_the_cache_and_the_hit_can_be_continued(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, cache=True)
    first = await prism.responses.with_raw_response.create(model="alpha", input="cache me")
    again = await prism.responses.with_raw_response.create(model="alpha", input="cache me")
    assert [first.headers["x-prism-cache"], again.headers["x-prism-cache"]] == ["miss", "hit-exact"]
    first_response, hit = first.parse(), again.parse()
    assert hit.output_text == first_response.output_text and hit.id != first_response.id
    stream = await prism.responses.create(model="alpha", input="cache me", stream=True)
    replayed = [event async for event in stream][-1].response
    assert stream.response.headers["x-prism-cache"] == "hit-exact"
    assert replayed.output_text == first_response.output_text
    assert fake.count("alpha") == 1
    row = await usage_row(origin, pool, again.headers["x-prism-request-id"])
    assert (row["cache_status"], float(row["cost_total_cents"])) == ("hit-exact", 0.0)
    assert float(row["cache_saved_cents"]) > 0
    onward = await prism.responses.create(model="alpha", input="and then?", previous_response_id=hit.id)
    assert onward.output_text == "echo: and then?"
    assert sent_messages(fake)[:2] == [
        {"role": "user", "content": "cache me"},
        {"role": "assistant", "content": first_response.output_text},
    ]


async def test_a_failing_model_falls_back(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    fake.configure("alpha", Behaviour(fail_times=100, fail_status=503))
    raw = await client(origin, api_key).responses.with_raw_response.create(model="alpha", input="anyone?")
    assert raw.headers["x-prism-model"] == "beta" and raw.parse().model == "beta"
    assert (await usage_row(origin, pool, raw.headers["x-prism-request-id"]))["model_used"] == "beta"


async def test_a_truncated_answer_is_incomplete(origin: RunningOrigin, api_key: str) -> None:
    response = await client(origin, api_key).responses.create(
        model="alpha", input="a long question " * 20, max_output_tokens=16
    )
    assert response.status == "incomplete"
    assert (
        response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"model": "alpha"}, 400, "invalid_type", "input"),
        (
            {"model": "alpha", "input": [{"role": "robot", "content": "x"}]},
            400,
            "invalid_value",
            "input[0].role",
        ),
        (
            {"model": "alpha", "input": "x", "text": {"format": {"type": "json_schema"}}},
            400,
            "invalid_type",
            "text.format.name",
        ),
        (
            {"model": "alpha", "input": "x", "tools": [{"type": "web_search"}]},
            400,
            "unsupported_parameter",
            "tools[0]",
        ),
        ({"model": "alpha", "input": "x", "background": True}, 400, "unsupported_parameter", "background"),
        ({"model": "nope", "input": "x"}, 404, "model_not_found", "model"),
        ([1, 2], 400, "invalid_body", None),
    ],
)
async def test_bad_requests_are_refused_in_openais_shape_with_a_row(
    origin: RunningOrigin,
    pool: postgres.Pool,
    api_key: str,
    body: Any,
    status: int,
    code: str,
    param: str | None,
) -> None:
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.post("/v1/responses", json=body, headers={"Authorization": f"Bearer {api_key}"})
    error = response.json()["error"]
    assert response.status_code == status and (error["code"], error["param"]) == (code, param)
    row = await usage_row(origin, pool, response.headers["x-prism-request-id"])
    assert (row["status_code"], row["success"]) == (status, False)


async def test_a_bad_key_is_refused_everywhere(origin: RunningOrigin) -> None:
    prism = client(origin, "prism_sk_" + "x" * 43)
    with pytest.raises(openai.AuthenticationError):
        await prism.responses.create(model="alpha", input="hi")
    with pytest.raises(openai.AuthenticationError):
        await prism.responses.retrieve("resp_x")
    with pytest.raises(openai.AuthenticationError):
        await prism.responses.delete("resp_x")


@pytest.fixture
async def unreachable_store(origin: RunningOrigin, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Stored responses on a Postgres nobody answers at (the rest of the origin keeps its own)."""
    port = free_port()  # nothing listens there
    dead = await asyncpg.create_pool(f"postgresql://postgres:postgres@127.0.0.1:{port}/prism", min_size=0)
    monkeypatch.setattr(origin.state.responses, "_store", ResponseStore(dead, retention_seconds=60))
    yield
    await dead.close()


@pytest.mark.usefixtures("unreachable_store")
async def test_without_the_store_answers_still_go_out_and_reads_are_a_503(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str
) -> None:
    prism = client(origin, api_key)
    raw = await prism.responses.with_raw_response.create(model="alpha", input="store me if you can")
    answered = raw.parse()
    assert answered.output_text == "echo: store me if you can"  # paid for: it goes out unstored
    assert (await usage_row(origin, pool, raw.headers["x-prism-request-id"]))["success"]
    for read in (
        prism.responses.retrieve(answered.id),
        prism.responses.delete(answered.id),
        prism.responses.input_items.list(answered.id),
        prism.responses.create(model="alpha", input="more", previous_response_id=answered.id),
    ):
        with pytest.raises(openai.InternalServerError) as refused:
            await read
        assert refused.value.status_code == 503 and refused.value.code == "responses_unavailable"
