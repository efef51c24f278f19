"""Anthropic Messages requests read as chat bodies: turns, tool calls and results, images, tools,
tool choice, and what only an Anthropic model can take."""

import pytest

from origin.messages.to_chat import chat_body
from origin.providers.base import RequestFieldError


def test_a_conversation_with_a_tool_round_trip() -> None:
    body = {
        "model": "claude",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use tools."}],
        "messages": [
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "call it", "signature": "s"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "sunny"}],
                    },
                    {"type": "text", "text": "and tomorrow?"},
                ],
            },
        ],
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "metadata": {"user_id": "ada"},
        "stream": True,
    }
    chat = chat_body(body, strict=True)
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief.\n\nUse tools."},
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]},
    ]
    assert (chat["max_tokens"], chat["stop"], chat["temperature"], chat["user"], chat["stream"]) == (
        100,
        ["END"],
        0.5,
        "ada",
        True,
    )


def test_images_tools_and_tool_choice() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    linked = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    tool = {"name": "weather", "description": "Weather.", "input_schema": {"type": "object"}}
    chat = chat_body(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": [image, linked]}],
            "tools": [tool],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        },
        strict=True,
    )
    assert chat["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "weather", "parameters": {"type": "object"}, "description": "Weather."},
        }
    ]
    assert (chat["tool_choice"], chat["parallel_tool_calls"]) == ("required", False)
    named = chat_body({"model": "m", "messages": [], "tool_choice": {"type": "tool", "name": "weather"}})
    assert named["tool_choice"] == {"type": "function", "function": {"name": "weather"}}


def test_what_only_anthropic_takes_is_refused_strictly_and_counted_otherwise() -> None:
    server_tool = {
        "model": "m",
        "messages": [],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
    }
    document = {
        "model": "m",
        "messages": [
            {"role": "user", "content": [{"type": "document", "source": {"type": "text", "data": "long"}}]}
        ],
    }
    for body, param in ((server_tool, "tools"), (document, "messages")):
        with pytest.raises(RequestFieldError) as refused:
            chat_body(body, strict=True)
        assert refused.value.param == param
    lenient = chat_body(document)
    assert "long" in lenient["messages"][0]["content"][0]["text"]  # still counted by the estimate
    assert "web_search" in str(chat_body(server_tool)["tools"])
