"""The OpenAI adapter: fields pass through, answers keep OpenAI's shape, streams and embeddings."""

import json

import pytest

from origin.providers import adapter_for
from origin.providers.base import (
    JSON,
    RETRYABLE_STATUSES,
    ModelConfig,
    Price,
    ProviderConfig,
    SSEEvent,
    UpstreamStreamError,
)
from origin.providers.openai import OpenAIAdapter, responses_request, usage_from_responses

ADAPTER = OpenAIAdapter()
MODEL = ModelConfig(name="fast", provider="groq", upstream_model="llama-3.1-8b", price=Price(1.0, 2.0))
PROVIDER = ProviderConfig(
    name="groq",
    kind="openai",
    base_url="https://api.groq.com/openai/v1",
    api_key="gsk",
    headers={"X-Team": "a"},
)
HELLO = [{"role": "user", "content": "hello"}]


def test_every_field_passes_through_with_the_upstream_model() -> None:
    body = {
        "messages": HELLO,
        "seed": 7,
        "logprobs": True,
        "top_logprobs": 2,
        "response_format": {"type": "json_object"},
        "logit_bias": {"1": 3},
        "frequency_penalty": 0.4,
        "some_vendor_extension": {"x": 1},
    }
    request = ADAPTER.chat_request(body, MODEL, PROVIDER)
    assert request.path == "/chat/completions"
    assert request.body == {**body, "model": "llama-3.1-8b"}
    assert request.headers == {
        "Content-Type": "application/json",
        "X-Team": "a",
        "Authorization": "Bearer gsk",
    }
    assert "model" not in body  # the caller's body is not changed


def test_a_stream_always_asks_for_usage() -> None:
    body = {"messages": HELLO, "stream": True, "stream_options": {"include_usage": False, "other": 1}}
    sent = ADAPTER.chat_request(body, MODEL, PROVIDER).body
    assert sent["stream_options"] == {"include_usage": True, "other": 1}
    assert "stream_options" not in ADAPTER.chat_request({"messages": HELLO}, MODEL, PROVIDER).body


def test_an_answer_gets_the_public_model_name_usage_and_a_refusal_field() -> None:
    data = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "llama-3.1-8b-instant",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"},
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "refusal": "No."},
                "finish_reason": "stop",
            },
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}},
    }
    completion, usage = ADAPTER.chat_response(data, MODEL)
    assert completion["model"] == "fast"
    assert [choice["message"]["refusal"] for choice in completion["choices"]] == [None, "No."]
    assert completion["choices"][0]["message"]["content"] == "hi"
    assert (usage.tokens_in, usage.tokens_out, usage.tokens_cached_in) == (9, 2, 4)


def test_stream_chunks_are_renamed_and_usage_is_read() -> None:
    translator = ADAPTER.stream_translator(MODEL, "chatcmpl-x", 1)
    chunk = {"id": "c", "model": "llama", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    assert translator.feed(SSEEvent(json.dumps(chunk))) == [{**chunk, "model": "fast"}]
    final = {
        "id": "c",
        "model": "llama",
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    translator.feed(SSEEvent(json.dumps(final)))
    assert (translator.usage.tokens_in, translator.usage.tokens_out) == (3, 1)
    assert not translator.finished
    assert translator.feed(SSEEvent("[DONE]")) == [] and translator.finished


def test_an_error_inside_the_stream_raises() -> None:
    translator = ADAPTER.stream_translator(MODEL, "chatcmpl-x", 1)
    with pytest.raises(UpstreamStreamError, match="overloaded"):
        translator.feed(SSEEvent(json.dumps({"error": {"message": "overloaded"}})))


def test_embeddings_request_and_response() -> None:
    request = ADAPTER.embeddings_request("hi", "text-embedding-3-small", PROVIDER, dimensions=64)
    assert request.path == "/embeddings" and request.headers["Authorization"] == "Bearer gsk"
    assert request.body == {
        "model": "text-embedding-3-small",
        "input": "hi",
        "encoding_format": "float",
        "dimensions": 64,
    }
    assert ADAPTER.embeddings_response({"data": [{"embedding": [1, 0.5]}]}) == [1.0, 0.5]
    broken_answers: list[JSON] = [
        {},
        {"data": []},
        {"data": [{"embedding": [float("nan")]}]},
        {"data": [{"embedding": [True]}]},
    ]
    for broken in broken_answers:
        with pytest.raises(ValueError):
            ADAPTER.embeddings_response(broken)


def test_retryable_statuses_are_the_generic_ones() -> None:
    assert ADAPTER.retryable_statuses == RETRYABLE_STATUSES and 529 not in ADAPTER.retryable_statuses
    assert adapter_for("anthropic").retryable_statuses == RETRYABLE_STATUSES | {529}


def test_error_message() -> None:
    assert ADAPTER.error_message(429, {"error": {"message": "slow down"}}) == "slow down"
    assert ADAPTER.error_message(502, "<html>") == "upstream answered HTTP 502"


def test_a_responses_request_goes_to_responses_with_the_upstream_model() -> None:
    request = responses_request({"model": "fast", "input": "hi", "store": False}, MODEL, PROVIDER)
    assert request.path == "/responses"
    assert request.body == {"model": "llama-3.1-8b", "input": "hi", "store": False}
    assert request.headers["Authorization"] == "Bearer gsk" and request.headers["X-Team"] == "a"


def test_a_responses_usage_is_read_with_its_cached_tokens() -> None:
    data = {
        "model": "gpt-5-2025-08-07",
        "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 100}, "output_tokens": 9},
    }
    usage = usage_from_responses(data)
    assert (usage.tokens_in, usage.tokens_cached_in, usage.tokens_out) == (120, 100, 9)
    assert usage.model_version == "gpt-5-2025-08-07"
    assert usage_from_responses({"usage": None}).tokens_in == 0 and usage_from_responses([]).tokens_out == 0
