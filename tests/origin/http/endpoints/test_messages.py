"""``POST /v1/messages`` through a real origin with the official ``anthropic`` client: Anthropic models
get the request as it came, OpenAI models a translation; streams, tools, ``cache_control``, the
exact cache, fallbacks, Anthropic-shaped refusals, ``count_tokens``, and one usage row per request."""

from typing import Any

import anthropic
import httpx
import pytest

from origin.stores import controls, postgres
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import fresh_project, usage_row

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def claude(
    origin: RunningOrigin, key: str, *, cache: bool = False, **headers: str
) -> anthropic.AsyncAnthropic:
    """The official client, the key as ``x-api-key`` (its default); without ``cache`` every request
    reaches the upstream."""
    if not cache:
        headers = {"Cache-Control": "no-store", **headers}
    return anthropic.AsyncAnthropic(
        base_url=origin.url, api_key=key, max_retries=0, timeout=20, default_headers=headers or None
    )


def last_body(fake: FakeProvider) -> dict[str, Any]:
    body = fake.requests[-1].json
    assert body is not None
    return body


async def test_an_anthropic_model_gets_the_request_as_it_came(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    client = claude(origin, api_key, **{"X-Prism-Session": "msg-1", "X-Prism-Tags": "feature=chat"})
    system = [{"type": "text", "text": "You are terse. " * 400, "cache_control": {"type": "ephemeral"}}]
    raw = await client.messages.with_raw_response.create(
        model="claude",
        max_tokens=200,
        system=system,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "hello there"}],
        metadata={"user_id": "ada"},
    )
    message = await raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "echo: hello there"
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    sent = last_body(fake)
    assert fake.requests[-1].path == "/v1/messages" and sent["model"] == "claude-up"
    assert sent["system"] == system and sent["metadata"] == {"user_id": "ada"}  # unchanged: caching pays
    assert fake.requests[-1].headers["x-api-key"] == "sk-fake-anthropic"

    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert (row["model_used"], row["provider"], row["session_id"]) == ("claude", "fakeant", "msg-1")
    assert row["tokens_out"] == message.usage.output_tokens
    assert row["tokens_in"] == (
        message.usage.input_tokens
        + (message.usage.cache_read_input_tokens or 0)
        + (message.usage.cache_creation_input_tokens or 0)
    )
    assert row["tokens_cache_write_5m"] == message.usage.cache_creation_input_tokens > 0
    assert (
        float(row["cost_total_cents"]) > 0 and row["task_type"] and '"feature": "chat"' in row["request_tags"]
    )
    assert raw.headers["x-prism-cost-cents"] == f"{float(row['cost_total_cents']):.6f}"

    again = await client.messages.create(
        model="claude",
        max_tokens=200,
        system=system,
        messages=[{"role": "user", "content": "hello there"}],  # type: ignore[arg-type]
    )
    assert again.usage.cache_read_input_tokens == message.usage.cache_creation_input_tokens


async def test_streams_relay_anthropic_events_and_settle_the_row(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    client = claude(origin, api_key)
    kinds: list[str] = []
    async with client.messages.stream(
        model="claude", max_tokens=200, messages=[{"role": "user", "content": "stream to me"}]
    ) as stream:
        async for event in stream:
            kinds.append(event.type)
        final = await stream.get_final_message()
        request_id = stream.response.headers["x-prism-request-id"]
    assert final.content[0].type == "text" and final.content[0].text == "echo: stream to me"
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "content_block_delta" in kinds
    row = await usage_row(origin, pool, request_id)
    assert row["was_streaming"] and row["model_used"] == "claude"
    assert row["tokens_out"] == final.usage.output_tokens > 0
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.post(
            "/v1/messages",
            json={
                "model": "claude",
                "max_tokens": 50,
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"x-api-key": api_key, "Cache-Control": "no-store"},
        )
    _, comment, after = response.content.partition(b": prism cost_cents=")
    assert comment and after.split(b"\n\n", 1)[1].startswith(b"event: message_stop\n")


@pytest.mark.parametrize("stream", [False, True])
async def test_an_openai_model_answers_by_translation_with_a_tool_round_trip(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider, stream: bool
) -> None:
    client = claude(origin, api_key)
    asked: list[Any] = [{"role": "user", "content": "Paris"}]

    async def create(messages: list[Any]) -> anthropic.types.Message:
        if not stream:
            return await client.messages.create(
                model="alpha", max_tokens=300, tools=[WEATHER], messages=messages
            )
        async with client.messages.stream(
            model="alpha", max_tokens=300, tools=[WEATHER], messages=messages
        ) as events:
            return await events.get_final_message()

    first = await create(asked)
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"input": "Paris"}
    sent = last_body(fake)
    assert fake.requests[-1].path == "/v1/chat/completions"
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]

    result = {"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}
    second = await create(
        [*asked, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}]
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and second.content[0].text == "tool said: sunny, 21C"
    relayed = last_body(fake)["messages"]
    assert relayed[1]["tool_calls"][0]["id"] == call.id
    assert relayed[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}


async def test_the_same_request_is_served_from_the_cache_as_json_and_as_a_stream(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    client = claude(origin, api_key, cache=True)
    ask: dict[str, Any] = {
        "model": "claude",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "cache me"}],
    }
    first = await client.messages.with_raw_response.create(**ask)
    again = await client.messages.with_raw_response.create(**ask)
    assert [first.headers["x-prism-cache"], again.headers["x-prism-cache"]] == ["miss", "hit-exact"]
    first_message, again_message = await first.parse(), await again.parse()
    assert again_message.content == first_message.content and again_message.id != first_message.id
    async with client.messages.stream(**ask) as stream:
        replayed = await stream.get_final_message()
        assert stream.response.headers["x-prism-cache"] == "hit-exact"
    told = [block.to_dict() for block in first_message.content]
    assert [block.to_dict() for block in replayed.content] == told
    assert fake.count("claude-up") == 1
    hit = await usage_row(origin, pool, again.headers["x-prism-request-id"])
    assert (hit["cache_status"], float(hit["cost_total_cents"])) == ("hit-exact", 0.0)
    assert float(hit["cache_saved_cents"]) > 0


async def test_a_failing_model_falls_back_by_translation(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    fake.configure("alpha", Behaviour(fail_times=100, fail_status=503))
    raw = await claude(origin, api_key).messages.with_raw_response.create(
        model="alpha", max_tokens=50, messages=[{"role": "user", "content": "anyone?"}]
    )
    assert raw.headers["x-prism-model"] == "beta" and (await raw.parse()).model == "beta"
    assert (await usage_row(origin, pool, raw.headers["x-prism-request-id"]))["model_used"] == "beta"


async def test_keys_go_as_x_api_key_or_bearer_and_bad_ones_are_anthropic_errors(
    origin: RunningOrigin, api_key: str
) -> None:
    bearer = anthropic.AsyncAnthropic(base_url=origin.url, auth_token=api_key, max_retries=0)
    answer = await bearer.messages.create(
        model="claude", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.type == "message"
    with pytest.raises(anthropic.AuthenticationError) as refused:
        await claude(origin, "prism_sk_" + "x" * 43).messages.create(
            model="claude", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Invalid API key.", "code": "invalid_api_key"},
    }


async def _refusal(origin: RunningOrigin, key: str, body: Any, path: str = "/v1/messages") -> tuple[int, Any]:
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.post(path, json=body, headers={"x-api-key": key})
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("body", "status", "kind", "where"),
    [
        (
            {"model": "claude", "messages": [{"role": "user", "content": "x"}]},
            400,
            "invalid_request_error",
            "max_tokens",
        ),
        ({"model": "claude", "max_tokens": 5, "messages": []}, 400, "invalid_request_error", "messages"),
        (
            {"model": "claude", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            400,
            "invalid_request_error",
            "messages.0.role",
        ),
        (
            {"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
            404,
            "not_found_error",
            "nope",
        ),
        (
            {"model": "embed-small", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
            400,
            "invalid_request_error",
            "embeddings",
        ),
        ([1, 2], 400, "invalid_request_error", "JSON object"),
    ],
)
async def test_bad_requests_are_refused_in_anthropics_shape_with_a_row(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, body: Any, status: int, kind: str, where: str
) -> None:
    got, payload = await _refusal(origin, api_key, body)
    assert got == status and payload["type"] == "error" and payload["error"]["type"] == kind
    assert where in payload["error"]["message"]
    row = await usage_row(origin, pool, payload["request_id"])
    assert (row["status_code"], row["success"]) == (status, False)


async def test_policy_and_server_tools_on_translated_models_are_refused(
    origin: RunningOrigin, pool: postgres.Pool
) -> None:
    key, record = await fresh_project(origin, pool, "msg-org")
    await controls.add_policy(
        pool,
        org_id=record.org_id,
        project_id=record.project_id,
        effect="deny",
        target="model",
        pattern="claude",
    )
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        await claude(origin, key).messages.create(
            model="claude", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert "Denied by policy" in denied.value.message
    with pytest.raises(anthropic.BadRequestError) as refused:
        await claude(origin, key).messages.create(
            model="alpha",
            max_tokens=5,
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
            messages=[{"role": "user", "content": "x"}],
        )
    assert "server tool" in refused.value.message


async def test_count_tokens_asks_anthropic_or_estimates(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    client = claude(origin, api_key)
    messages: list[Any] = [{"role": "user", "content": "count these words please"}]
    counted = await client.messages.count_tokens(model="claude", messages=messages, system="be brief")
    assert fake.requests[-1].path == "/v1/messages/count_tokens"
    assert counted.input_tokens == await _fake_count(fake, messages)
    before = len(fake.requests)
    estimated = await client.messages.count_tokens(model="alpha", messages=messages)
    assert len(fake.requests) == before and estimated.input_tokens > 0


async def _fake_count(fake: FakeProvider, messages: list[Any]) -> int:
    body = last_body(fake)
    assert body["messages"] == messages and body["system"] == "be brief"
    from tests.fakes.anthropic_wire import prompt_parts
    from tests.fakes.behaviour import count_tokens

    return count_tokens("".join(part.text for part in prompt_parts(body)))


async def test_a_claude_code_style_request_succeeds(
    origin: RunningOrigin,
    pool: postgres.Pool,
    api_key: str,
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As Claude Code sends: ``ANTHROPIC_BASE_URL``, a bearer token, ``?beta=true``, beta headers,
    system blocks with cache_control, tools, a streamed answer."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", origin.url)
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", api_key)
    client = anthropic.AsyncAnthropic(api_key=None, max_retries=0)
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": "Tools and rules. " * 400, "cache_control": {"type": "ephemeral"}},
    ]
    bash = {
        "name": "Bash",
        "description": "Run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
    }
    async with client.beta.messages.stream(
        model="claude",
        max_tokens=32000,
        system=system,  # type: ignore[arg-type]
        tools=[bash],  # type: ignore[list-item]
        tool_choice={"type": "none"},
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "list files", "cache_control": {"type": "ephemeral"}}],
            }
        ],
        metadata={"user_id": "user_abc_account_def_session_ghi"},
        betas=["claude-code-20250219", "interleaved-thinking-2025-05-14"],
    ) as stream:
        final = await stream.get_final_message()
        request_id = stream.response.headers["x-prism-request-id"]
    assert final.content[0].type == "text" and final.content[0].text == "echo: list files"
    received = fake.requests[-1]
    assert received.headers["anthropic-beta"] == "claude-code-20250219,interleaved-thinking-2025-05-14"
    assert last_body(fake)["system"] == system
    row = await usage_row(origin, pool, request_id)
    assert row["success"] and row["tokens_cache_write_5m"] > 0
