import json
from typing import Any

import pytest

from origin.providers import ADAPTERS, adapter_for
from origin.providers.anthropic import AnthropicAdapter
from origin.providers.anthropic_answer import REFUSAL, AnthropicStreamTranslator
from origin.providers.base import (
    JSON,
    ModelConfig,
    Price,
    ProviderConfig,
    RequestFieldError,
    SSEEvent,
    UpstreamStreamError,
)

PRICE = Price(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75, cache_write_1h=6.0)
MODEL = ModelConfig(name="claude", provider="anthropic", upstream_model="claude-sonnet-4-5", price=PRICE)
PROVIDER = ProviderConfig(
    name="anthropic",
    kind="anthropic",
    base_url="https://api.anthropic.com",
    api_key="sk-ant-test",
    headers={"anthropic-beta": "prompt-caching-2024-07-31"},
)
ADAPTER = AnthropicAdapter()
HELLO = [{"role": "user", "content": "hello"}]
HELLO_BLOCKS = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def text(value: str) -> JSON:
    return {"type": "text", "text": value}


def upstream(**fields: Any) -> JSON:
    return {"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": HELLO_BLOCKS, **fields}


def translate(**body: Any) -> JSON:
    return ADAPTER.chat_request({"model": "claude", "messages": HELLO, **body}, MODEL, PROVIDER).body


REQUEST_CASES = [
    pytest.param({}, upstream(), id="minimal"),
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [text("Use metric."), text("No emoji.")]},
                {"role": "user", "content": "hello"},
            ]
        },
        upstream(system="Be brief.\n\nUse metric.\n\nNo emoji."),
        id="system-and-developer-merge",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        text("what is this?"),
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"},
                        },
                    ],
                }
            ]
        },
        upstream(
            messages=[
                {
                    "role": "user",
                    "content": [
                        text("what is this?"),
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                    ],
                }
            ]
        ),
        id="multi-part-images",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL, {"type": "function", "function": {"name": "now"}}]},
        upstream(
            tools=[
                {"name": "weather", "description": "Current weather", "input_schema": WEATHER_SCHEMA},
                {"name": "now", "input_schema": {"type": "object", "properties": {}}},
            ]
        ),
        id="tools",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": "auto"},
        {"tool_choice": {"type": "auto"}},
        id="tool-choice-auto",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": "required"},
        {"tool_choice": {"type": "any"}},
        id="tool-choice-required",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": "none"},
        {"tool_choice": {"type": "none"}},
        id="tool-choice-none",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "weather"}}},
        {"tool_choice": {"type": "tool", "name": "weather"}},
        id="tool-choice-named",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "tool_choice": "required", "parallel_tool_calls": False},
        {"tool_choice": {"type": "any", "disable_parallel_tool_use": True}},
        id="no-parallel-tools",
    ),
    pytest.param(
        {"tools": [WEATHER_TOOL], "parallel_tool_calls": False},
        {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
        id="no-parallel-tools-implies-auto",
    ),
    pytest.param(
        {"tool_choice": "auto", "parallel_tool_calls": True},
        upstream(),
        id="auto-tool-choice-without-tools-is-a-no-op",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "weather in Oslo and Rome?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                        },
                        {
                            "id": "toolu_2",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": "4C"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": [text("21C")]},
                {"role": "user", "content": "and tomorrow?"},
                {"role": "user", "content": "in Celsius"},
            ]
        },
        upstream(
            messages=[
                {"role": "user", "content": [text("weather in Oslo and Rome?")]},
                {
                    "role": "assistant",
                    "content": [
                        text("Checking."),
                        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "4C"},
                        {"type": "tool_result", "tool_use_id": "toolu_2", "content": [text("21C")]},
                        text("and tomorrow?"),
                        text("in Celsius"),
                    ],
                },
            ]
        ),
        id="tool-round-trip-and-alternation",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "t", "function": {"name": "now"}}],
                },
            ]
        },
        upstream(
            messages=[
                {"role": "user", "content": [text("hi")]},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "now", "input": {}}],
                },
            ]
        ),
        id="tool-call-without-arguments",
    ),
    pytest.param({"stop": "END"}, upstream(stop_sequences=["END"]), id="stop-string"),
    pytest.param({"stop": ["a", "b"]}, upstream(stop_sequences=["a", "b"]), id="stop-list"),
    pytest.param({"max_tokens": 100}, upstream(max_tokens=100), id="max-tokens"),
    pytest.param(
        {"max_tokens": 100, "max_completion_tokens": 200},
        upstream(max_tokens=200),
        id="max-completion-tokens",
    ),
    pytest.param(
        {"temperature": 0.2, "top_p": 0.9, "stream": True, "user": "u-42"},
        upstream(temperature=0.2, top_p=0.9, stream=True, metadata={"user_id": "u-42"}),
        id="sampling-stream-user",
    ),
    pytest.param(
        {
            "n": 1,
            "logprobs": False,
            "top_logprobs": None,
            "presence_penalty": 0,
            "frequency_penalty": 0.0,
            "seed": None,
            "logit_bias": {},
            "modalities": ["text"],
            "response_format": {"type": "text"},
            "stream_options": {"include_usage": True},
            "store": True,
            "metadata": {"team": "a"},
            "prompt_cache_key": "k",
            "safety_identifier": "s",
            "service_tier": "auto",
            "prediction": {"type": "content", "content": "x"},
        },
        upstream(),
        id="neutral-values-and-answer-neutral-fields",
    ),
    pytest.param(
        {"response_format": {"type": "json_object"}},
        {
            "tools": [
                {
                    "name": "prism_response_format",
                    "description": "Answer with a JSON object.",
                    "input_schema": {"type": "object"},
                }
            ],
            "tool_choice": {"type": "tool", "name": "prism_response_format"},
        },
        id="json-object-is-a-forced-tool",
    ),
    pytest.param(
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "city", "description": "A city.", "schema": WEATHER_SCHEMA},
            }
        },
        {
            "tools": [
                {
                    "name": "prism_response_format",
                    "description": "Answer with a JSON object following the schema 'city'. A city.",
                    "input_schema": WEATHER_SCHEMA,
                }
            ],
            "tool_choice": {"type": "tool", "name": "prism_response_format"},
        },
        id="json-schema-is-a-forced-tool",
    ),
]


@pytest.mark.parametrize(("body", "expected"), REQUEST_CASES)
def test_chat_request_translation(body: JSON, expected: JSON) -> None:
    translated = translate(**body)
    if "model" in expected:
        assert translated == expected
    else:
        assert {key: translated.get(key) for key in expected} == expected


def test_chat_request_path_and_headers() -> None:
    request = ADAPTER.chat_request({"messages": HELLO}, MODEL, PROVIDER)
    assert request.path == "/v1/messages"
    assert request.headers == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "prompt-caching-2024-07-31",
        "x-api-key": "sk-ant-test",
    }
    keyless = ProviderConfig(name="local", kind="anthropic", base_url="http://localhost:8080")
    assert "x-api-key" not in ADAPTER.chat_request({"messages": HELLO}, MODEL, keyless).headers


def test_chat_request_leaves_the_body_untouched() -> None:
    body = {"messages": [{"role": "tool", "tool_call_id": "t", "content": "x"}, *HELLO], "stop": ["a"]}
    snapshot = json.dumps(body)
    ADAPTER.chat_request(body, MODEL, PROVIDER)
    assert json.dumps(body) == snapshot


INVALID_CASES = [
    pytest.param({"n": 2}, "n must be 1", id="n>1"),
    pytest.param({"messages": [{"role": "function", "content": "x"}]}, "role", id="unknown-role"),
    pytest.param({"messages": "hello"}, "messages", id="messages-not-a-list"),
    pytest.param(
        {"messages": [{"role": "system", "content": "only a system"}]}, "user or assistant", id="empty"
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "t", "function": {"name": "weather", "arguments": "{city"}}],
                }
            ]
        },
        "not valid JSON",
        id="bad-tool-arguments",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "t", "function": {"name": "w", "arguments": "[]"}}],
                }
            ]
        },
        "JSON object",
        id="tool-arguments-not-an-object",
    ),
    pytest.param({"messages": [{"role": "tool", "content": "4C"}]}, "tool_call_id", id="tool-without-id"),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "input_audio",
        id="audio-part",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}
            ]
        },
        "image urls",
        id="image-scheme",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}],
                }
            ]
        },
        "image urls",
        id="image-not-base64",
    ),
    pytest.param(
        {"messages": [{"role": "system", "content": [{"type": "image_url"}]}]}, "text", id="system-image"
    ),
    pytest.param({"tools": [{"type": "web_search"}]}, "function tools", id="non-function-tool"),
    pytest.param({"tools": [WEATHER_TOOL], "tool_choice": "sometimes"}, "tool_choice", id="bad-tool-choice"),
    pytest.param({"stop": [1, 2]}, "stop", id="bad-stop"),
    pytest.param({"max_tokens": -1}, "max_tokens", id="bad-max-tokens"),
]


UNHONOURED_FIELDS = [
    pytest.param("n", 2, "unsupported_parameter", id="n"),
    pytest.param("n", "1", "invalid_type", id="n-type"),
    pytest.param("seed", 7, "unsupported_parameter", id="seed"),
    pytest.param("seed", "7", "unsupported_parameter", id="seed-any-value"),
    pytest.param("logprobs", True, "unsupported_parameter", id="logprobs"),
    pytest.param("logprobs", "yes", "invalid_type", id="logprobs-type"),
    pytest.param("top_logprobs", 3, "unsupported_parameter", id="top_logprobs"),
    pytest.param("frequency_penalty", 0.5, "unsupported_parameter", id="frequency_penalty"),
    pytest.param("frequency_penalty", "0", "invalid_type", id="frequency_penalty-type"),
    pytest.param("presence_penalty", -1, "unsupported_parameter", id="presence_penalty"),
    pytest.param("logit_bias", {"1": 2}, "unsupported_parameter", id="logit_bias"),
    pytest.param("logit_bias", {"1": "x"}, "invalid_type", id="logit_bias-type"),
    pytest.param("modalities", ["text", "audio"], "unsupported_parameter", id="modalities"),
    pytest.param("audio", {"voice": "alloy"}, "unsupported_parameter", id="audio"),
    pytest.param("reasoning_effort", "high", "unsupported_parameter", id="reasoning_effort"),
    pytest.param("functions", [{"name": "f"}], "unsupported_parameter", id="functions"),
    pytest.param("web_search_options", {}, "unsupported_parameter", id="web_search_options"),
    pytest.param("top_k", 5, "unsupported_parameter", id="unknown-field"),
    pytest.param("temperature", 1.5, "unsupported_parameter", id="temperature-above-anthropic-range"),
    pytest.param("temperature", "hot", "invalid_type", id="temperature-type"),
    pytest.param("top_p", True, "invalid_type", id="top_p-type"),
    pytest.param("stream", "yes", "invalid_type", id="stream-type"),
    pytest.param("user", 42, "invalid_type", id="user-type"),
    pytest.param("metadata", {"a": 1}, "invalid_type", id="metadata-type"),
    pytest.param("store", "yes", "invalid_type", id="store-type"),
    pytest.param("stream_options", [], "invalid_type", id="stream_options-type"),
    pytest.param("prompt_cache_key", 1, "invalid_type", id="prompt_cache_key-type"),
    pytest.param("service_tier", "gold", "invalid_type", id="service_tier-value"),
    pytest.param("prediction", {"content": "x"}, "invalid_type", id="prediction-without-type"),
    pytest.param("max_tokens", "100", "invalid_type", id="max_tokens-type"),
    pytest.param("max_completion_tokens", 0, "invalid_type", id="max_completion_tokens-value"),
    pytest.param("stop", 5, "invalid_type", id="stop-type"),
    pytest.param("tools", {"type": "function"}, "invalid_type", id="tools-type"),
    pytest.param("tool_choice", "required", "unsupported_parameter", id="tool_choice-without-tools"),
    pytest.param("parallel_tool_calls", "no", "invalid_type", id="parallel_tool_calls-type"),
    pytest.param("response_format", "json", "invalid_type", id="response_format-type"),
    pytest.param("response_format", {"type": "yaml"}, "invalid_type", id="response_format-kind"),
    pytest.param(
        "response_format",
        {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "array"}}},
        "unsupported_parameter",
        id="response_format-array-root",
    ),
    pytest.param(
        "response_format",
        {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
        "invalid_type",
        id="response_format-unnamed-schema",
    ),
]


@pytest.mark.parametrize(("field", "value", "code"), UNHONOURED_FIELDS)
def test_a_field_it_cannot_honour_is_refused_by_name(field: str, value: Any, code: str) -> None:
    with pytest.raises(RequestFieldError) as raised:
        translate(**{field: value})
    assert (raised.value.param, raised.value.code) == (field, code)


def test_response_format_with_tools_is_refused() -> None:
    with pytest.raises(RequestFieldError) as raised:
        translate(tools=[WEATHER_TOOL], response_format={"type": "json_object"})
    assert (raised.value.param, raised.value.code) == ("response_format", "unsupported_parameter")
    reserved = {"type": "function", "function": {"name": "prism_response_format"}}
    with pytest.raises(RequestFieldError, match="reserved"):
        translate(tools=[reserved])


def test_a_forced_answer_tool_becomes_the_content() -> None:
    content: list[JSON] = [
        {"type": "tool_use", "id": "toolu_9", "name": "prism_response_format", "input": {"city": "Oslo"}}
    ]
    completion, _ = ADAPTER.chat_response(anthropic_message(content, "tool_use"), MODEL)
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {"role": "assistant", "content": '{"city": "Oslo"}', "refusal": None}


def test_a_refusal_is_reported_as_refusal() -> None:
    completion, _ = ADAPTER.chat_response(anthropic_message([text("I")], "refusal"), MODEL)
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["refusal"] == REFUSAL and choice["message"]["content"] == "I"


@pytest.mark.parametrize(("body", "message"), INVALID_CASES)
def test_untranslatable_requests_raise_value_error(body: JSON, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        translate(**body)


def anthropic_message(content: list[JSON], stop_reason: str = "end_turn", **usage: Any) -> JSON:
    return {
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def test_chat_response_text() -> None:
    completion, usage = ADAPTER.chat_response(anthropic_message([text("Hello"), text(" there")]), MODEL)
    assert completion["id"] == "chatcmpl-msg_01abc"
    assert completion["object"] == "chat.completion"
    assert isinstance(completion["created"], int)
    assert completion["model"] == "claude"
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert completion["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert usage.tokens_in == 10
    assert usage.tokens_out == 5


def test_chat_response_tool_use() -> None:
    content: list[JSON] = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
    ]
    completion, _ = ADAPTER.chat_response(anthropic_message(content, "tool_use"), MODEL)
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_1"
    assert call["type"] == "function"
    assert call["function"]["name"] == "weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo"}


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("something_new", "stop"),
    ],
)
def test_chat_response_finish_reasons(stop_reason: str, expected: str) -> None:
    completion, _ = ADAPTER.chat_response(anthropic_message([text("x")], stop_reason), MODEL)
    assert completion["choices"][0]["finish_reason"] == expected


def test_chat_response_cache_usage_and_cost() -> None:
    data = anthropic_message(
        [text("x")],
        input_tokens=100,
        output_tokens=50,
        cache_read_input_tokens=1000,
        cache_creation_input_tokens=200,
    )
    completion, usage = ADAPTER.chat_response(data, MODEL)
    assert (usage.tokens_in, usage.tokens_cached_in, usage.tokens_cache_write_5m, usage.tokens_out) == (
        1300,
        1000,
        200,  # no cache_creation split (older API versions): every write is a 5-minute one
        50,
    )
    assert usage.tokens_cache_write_1h == 0
    assert completion["usage"]["prompt_tokens"] == 1300
    assert completion["usage"]["prompt_tokens_details"] == {"cached_tokens": 1000}
    dollars = (100 * 3.0 + 1000 * 0.3 + 200 * 3.75 + 50 * 15.0) / 1_000_000
    assert usage.cost_cents(PRICE) == pytest.approx(dollars * 100)


def test_cache_writes_split_by_how_long_they_are_kept_and_priced_apart() -> None:
    data = anthropic_message(
        [text("x")],
        input_tokens=10,
        output_tokens=20,
        cache_read_input_tokens=3000,
        cache_creation_input_tokens=1500,
        cache_creation={"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1000},
    )
    _, usage = ADAPTER.chat_response(data, MODEL)

    assert (usage.tokens_in, usage.tokens_fresh_in, usage.tokens_cached_in) == (4510, 10, 3000)
    assert (usage.tokens_cache_write_5m, usage.tokens_cache_write_1h) == (500, 1000)
    dollars = (10 * 3.0 + 3000 * 0.3 + 500 * 3.75 + 1000 * 6.0 + 20 * 15.0) / 1_000_000
    assert usage.cost_cents(PRICE) == pytest.approx(dollars * 100)
    # unpriced cache tokens cost what input costs; nothing is counted twice
    plain = Price(input=3.0, output=15.0)
    assert usage.cost_cents(plain) == pytest.approx((4510 * 3.0 + 20 * 15.0) / 1_000_000 * 100)


@pytest.mark.parametrize(
    "split",
    [
        {"ephemeral_1h_input_tokens": 9999},
        {"ephemeral_1h_input_tokens": -5},
        {"ephemeral_1h_input_tokens": "7"},
    ],
)
def test_a_split_that_does_not_add_up_never_invents_tokens(split: JSON) -> None:
    data = anthropic_message(
        [text("x")], input_tokens=1, output_tokens=1, cache_creation_input_tokens=100, cache_creation=split
    )
    _, usage = ADAPTER.chat_response(data, MODEL)
    assert usage.tokens_cache_write_5m + usage.tokens_cache_write_1h == 100
    assert usage.tokens_in == 101


def sse(payload: JSON) -> SSEEvent:
    return SSEEvent(data=json.dumps(payload), event=payload["type"])


RECORDED_STREAM: list[JSON] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_01stream",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [],
            "stop_reason": None,
            "usage": {
                "input_tokens": 25,
                "cache_read_input_tokens": 400,
                "cache_creation_input_tokens": 0,
                "output_tokens": 1,
            },
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "check."}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {}},
    },
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"ci'},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": 'ty": "Os'},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": 'lo"}'},
    },
    {"type": "content_block_stop", "index": 1},
    {"type": "some_future_event", "detail": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 42},
    },
    {"type": "message_stop"},
]


def run_stream(events: list[JSON]) -> tuple[AnthropicStreamTranslator, list[JSON]]:
    translator = ADAPTER.stream_translator(MODEL, "chatcmpl-1", 1700000000)
    chunks = [chunk for event in events for chunk in translator.feed(sse(event))]
    return translator, chunks


def test_stream_translation() -> None:
    translator, chunks = run_stream(RECORDED_STREAM)
    assert all(chunk["id"] == "chatcmpl-1" and chunk["model"] == "claude" for chunk in chunks)
    assert all(
        chunk["object"] == "chat.completion.chunk" and chunk["created"] == 1700000000 for chunk in chunks
    )
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(delta.get("content") or "" for delta in deltas) == "Let me check."

    calls = [call for delta in deltas for call in delta.get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01",
        "type": "function",
        "function": {"name": "weather", "arguments": ""},
    }
    assert {call["index"] for call in calls} == {0}
    assert json.loads("".join(call["function"]["arguments"] for call in calls)) == {"city": "Oslo"}

    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "tool_calls",
        "logprobs": None,
    }
    assert (translator.usage.tokens_in, translator.usage.tokens_cached_in, translator.usage.tokens_out) == (
        425,
        400,
        42,
    )
    assert translator.finished


def test_stream_counts_tool_blocks_from_zero() -> None:
    tool_block = {"type": "tool_use", "id": "toolu_b", "name": "now", "input": {}}
    events: list[JSON] = [
        RECORDED_STREAM[0],
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Hi"}},
        {"type": "content_block_start", "index": 1, "content_block": {**tool_block, "id": "toolu_a"}},
        {"type": "content_block_start", "index": 2, "content_block": tool_block},
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": "{}"},
        },
    ]
    _, chunks = run_stream(events)
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[1] == {"content": "Hi"}
    assert [delta["tool_calls"][0]["index"] for delta in deltas[2:]] == [0, 1, 1]


def test_stream_message_delta_updates_cache_counts() -> None:
    events: list[JSON] = [
        RECORDED_STREAM[0],
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens"},
            "usage": {"output_tokens": 9, "cache_creation_input_tokens": 30, "input_tokens": 0},
        },
    ]
    translator, chunks = run_stream(events)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert translator.usage.tokens_in == 25 + 400 + 30
    assert translator.usage.tokens_cache_write_5m == 30
    assert translator.usage.tokens_out == 9
    assert not translator.finished


def test_stream_cache_split_from_message_start_survives_a_cut() -> None:
    usage = {
        "input_tokens": 12,
        "cache_read_input_tokens": 2048,
        "cache_creation_input_tokens": 1100,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 1000},
        "output_tokens": 1,
    }
    start = {"type": "message_start", "message": {**RECORDED_STREAM[0]["message"], "usage": usage}}
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}
    translator, _ = run_stream([start, block, delta])  # cut before message_delta

    assert (translator.usage.tokens_in, translator.usage.tokens_cached_in) == (12 + 2048 + 1100, 2048)
    assert (translator.usage.tokens_cache_write_5m, translator.usage.tokens_cache_write_1h) == (100, 1000)

    ending = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {**usage, "output_tokens": 7},  # cumulative, as Anthropic sends it: not added again
    }
    translator, _ = run_stream([start, block, delta, ending])
    assert (translator.usage.tokens_in, translator.usage.tokens_out) == (3160, 7)
    assert translator.usage.tokens_cache_write_1h == 1000


def test_stream_error_event_raises() -> None:
    translator = ADAPTER.stream_translator(MODEL, "chatcmpl-1", 0)
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(UpstreamStreamError, match="Overloaded"):
        translator.feed(SSEEvent(data=json.dumps(error), event="error"))


def test_stream_uses_the_json_type_and_skips_noise() -> None:
    translator = ADAPTER.stream_translator(MODEL, "chatcmpl-1", 0)
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
    assert translator.feed(SSEEvent(data=json.dumps(delta), event="ping"))[0]["choices"][0]["delta"] == {
        "content": "x"
    }
    assert translator.feed(SSEEvent(data="")) == []
    with pytest.raises(UpstreamStreamError):
        translator.feed(SSEEvent(data="{not json"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}, "bad"),
        ({"type": "error", "error": {"type": "api_error", "message": "x" * 500}}, "x" * 300),
        ({"error": "nope"}, "upstream answered HTTP 502"),
        ("<html>", "upstream answered HTTP 502"),
    ],
)
def test_error_message(data: Any, expected: str) -> None:
    assert ADAPTER.error_message(502, data) == expected


def fake_anthropic(request: JSON) -> JSON:
    """Answers the way Anthropic would: a tool call when the last turn is a question, else an echo."""
    last = request["messages"][-1]["content"]
    results = [block["content"] for block in last if block["type"] == "tool_result"]
    if results:
        return anthropic_message([text(f"{request['system']} It is {results[0]}.")])
    tool = request["tools"][0]
    call = {"type": "tool_use", "id": "toolu_rt", "name": tool["name"], "input": {"city": "Oslo"}}
    return anthropic_message([text("Looking it up."), call], "tool_use")


def test_openai_conversation_round_trips_through_anthropic() -> None:
    messages: list[JSON] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
    ]
    body = {"model": "claude", "messages": messages, "tools": [WEATHER_TOOL], "tool_choice": "auto"}

    first = ADAPTER.chat_request(body, MODEL, PROVIDER).body
    assert first["system"] == "Be brief."
    assert first["tools"][0]["input_schema"] == WEATHER_SCHEMA
    completion, _ = ADAPTER.chat_response(fake_anthropic(first), MODEL)
    reply = completion["choices"][0]["message"]
    assert completion["choices"][0]["finish_reason"] == "tool_calls"

    call = reply["tool_calls"][0]
    messages += [reply, {"role": "tool", "tool_call_id": call["id"], "content": "4C"}]
    second = ADAPTER.chat_request({**body, "messages": messages}, MODEL, PROVIDER).body
    assert [turn["role"] for turn in second["messages"]] == ["user", "assistant", "user"]
    assert second["messages"][1]["content"] == fake_anthropic(first)["content"]
    assert second["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_rt", "content": "4C"}
    ]

    final, _ = ADAPTER.chat_response(fake_anthropic(second), MODEL)
    assert final["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Be brief. It is 4C.",
        "refusal": None,
    }


def test_registered() -> None:
    assert isinstance(ADAPTERS["anthropic"], AnthropicAdapter)
    assert adapter_for("anthropic") is ADAPTERS["anthropic"]


def answer_stream(stop_reason: str, deltas: list[str], block: JSON) -> list[JSON]:
    return [
        RECORDED_STREAM[0],
        {"type": "content_block_start", "index": 0, "content_block": block},
        *(
            {"type": "content_block_delta", "index": 0, "delta": delta}
            for delta in (
                {"type": "input_json_delta", "partial_json": piece}
                if block["type"] == "tool_use"
                else {"type": "text_delta", "text": piece}
                for piece in deltas
            )
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]


def test_stream_of_a_forced_answer_tool_is_content() -> None:
    block = {"type": "tool_use", "id": "toolu_9", "name": "prism_response_format", "input": {}}
    _, chunks = run_stream(answer_stream("tool_use", ['{"city"', ': "Oslo"}'], block))
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert "".join(delta.get("content", "") for delta in deltas) == '{"city": "Oslo"}'
    assert not any("tool_calls" in delta for delta in deltas)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_of_a_refusal_ends_with_the_refusal() -> None:
    _, chunks = run_stream(answer_stream("refusal", ["I "], {"type": "text", "text": ""}))
    last = chunks[-1]["choices"][0]
    assert last["finish_reason"] == "content_filter" and last["delta"] == {"refusal": REFUSAL}
