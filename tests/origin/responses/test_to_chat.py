"""A Responses request read as a chat body: items, history, tools, formats, and what is refused."""

from typing import Any

import pytest

from origin.providers.base import RequestFieldError
from origin.responses.to_chat import chat_body, input_items


def test_a_string_input_is_one_user_message_after_the_instructions() -> None:
    chat = chat_body({"model": "m", "input": "hi", "instructions": "rules", "max_output_tokens": 9}, [])
    assert chat == {
        "model": "m",
        "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "hi"}],
        "max_completion_tokens": 9,
    }


def test_items_become_messages_with_calls_joined_to_their_turn() -> None:
    history: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": "weather in Paris and Rome?"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "c2", "name": "w", "arguments": '{"city":"Rome"}'},
        {"type": "reasoning", "summary": []},
    ]
    body = {
        "input": [
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "rain"}],
            },
            {"role": "developer", "content": [{"type": "input_text", "text": "be brief"}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "and this?"},
                    {"type": "input_image", "image_url": "https://x/cat.png", "detail": "low"},
                ],
            },
        ]
    }
    messages = chat_body(body, history)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}},
            {"id": "c2", "type": "function", "function": {"name": "w", "arguments": '{"city":"Rome"}'}},
        ],
    }
    assert messages[2:5] == [
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
        {"role": "system", "content": "be brief"},
    ]
    assert messages[5]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "https://x/cat.png", "detail": "low"},
    }
    assert len(messages) == 6  # the reasoning item is not sent


def test_tools_choice_and_format_are_translated() -> None:
    chat = chat_body(
        {
            "input": "x",
            "tools": [{"type": "function", "name": "f", "description": "d", "strict": True}],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {
                "format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}
            },
            "parallel_tool_calls": False,
            "user": "ada",
        },
        [],
    )
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object"}, "description": "d", "strict": True},
        }
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }
    assert (chat["parallel_tool_calls"], chat["user"], chat["model"]) == (False, "ada", "auto")
    assert "response_format" not in chat_body({"input": "x", "text": {"format": {"type": "text"}}}, [])
    assert chat_body({"input": "x", "text": {"format": {"type": "json_object"}}}, [])["response_format"] == {
        "type": "json_object"
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "tools": [{"type": "file_search"}]}, "tools[0]"),
        ({"input": "x", "tool_choice": {"type": "web_search"}}, "tool_choice"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content",
        ),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
    ],
)
def test_what_chat_cannot_carry_is_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(RequestFieldError) as refused:
        chat_body(body, [])
    assert refused.value.param == param


def test_input_items_name_their_type() -> None:
    assert input_items({"input": "hi"}) == [{"type": "message", "role": "user", "content": "hi"}]
    assert input_items({"input": [{"role": "user", "content": "x"}]}) == [
        {"role": "user", "content": "x", "type": "message"}
    ]


def test_the_controls_view_leaves_out_what_only_a_native_upstream_reads() -> None:
    body = {
        "model": "gpt-5",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "read this"},
                    {"type": "input_file", "file_id": "f"},
                ],
            }
        ],
        "tools": [
            {"type": "web_search"},
            {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
        ],
        "tool_choice": {"type": "web_search"},
    }
    chat = chat_body(body, [], strict=False)
    assert chat["messages"] == [{"role": "user", "content": "read this"}]
    assert [tool["function"]["name"] for tool in chat["tools"]] == ["get_weather"]
    assert "tool_choice" not in chat
    with pytest.raises(RequestFieldError) as refused:
        chat_body({"input": "x", "background": True}, [], strict=False)
    assert refused.value.param == "background"
