"""The budget's worst case counts every input a request carries, not only its message text."""

import json
from typing import Any

from origin.chat.tokens import estimate_prompt_tokens
from origin.controls.admission import worst_case_cents
from origin.controls.worst_case import IMAGE_TOKENS, worst_input_tokens
from origin.providers.base import ModelConfig, Price

MODEL = ModelConfig(name="m", provider="p", upstream_model="m", price=Price(input=3.0, output=15.0))
ARGUMENTS = json.dumps({"query": "x" * 4000})
RESULT = "row," * 5000


def _bytes(*texts: str) -> int:
    return sum(len(text.encode("utf-8")) for text in texts)


def test_tool_calls_and_their_results_count_in_full() -> None:
    messages: list[Any] = [
        {"role": "user", "content": "look it up"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "search", "arguments": ARGUMENTS}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": RESULT}]},
    ]
    worst = worst_input_tokens({"messages": messages})
    assert worst >= _bytes(ARGUMENTS, RESULT)
    # the average estimate misses the call's arguments and undercounts the rest
    assert estimate_prompt_tokens(messages) < worst / 4


def test_an_image_counts_the_most_a_provider_charges_whatever_its_size() -> None:
    tiny = {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}
    huge = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 1_000_000}}
    for image in (tiny, huge):
        body = {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "what is this"}, image, image]}
            ]
        }
        assert 2 * IMAGE_TOKENS < worst_input_tokens(body) < 2 * IMAGE_TOKENS + 100


def test_text_counts_a_token_a_byte_so_no_script_beats_it() -> None:
    text = "東京の天気はどうですか" * 50  # about a token a character, three bytes each
    body = {"messages": [{"role": "user", "content": text}]}
    assert worst_input_tokens(body) >= len(text) * 3
    assert estimate_prompt_tokens(body["messages"]) < len(text)  # the estimate would hold a quarter


def test_tools_response_format_and_memory_turns_count() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object", "description": "d" * 900}},
        }
    ]
    schema = {"type": "json_schema", "json_schema": {"name": "s", "schema": {"description": "e" * 700}}}
    memory = [{"role": "user", "content": "m" * 500}, {"role": "assistant", "content": "n" * 500}]
    bare = worst_input_tokens({"messages": [{"role": "user", "content": "hi"}]})
    full = worst_input_tokens(
        {"messages": [*memory, {"role": "user", "content": "hi"}], "tools": tools, "response_format": schema}
    )
    assert full - bare >= 900 + 700 + 1000


def test_the_reservation_covers_a_request_made_mostly_of_tool_results() -> None:
    body = {"messages": [{"role": "tool", "tool_call_id": "c", "content": RESULT}], "max_tokens": 10}
    cost_if_a_token_a_byte = (len(RESULT) * 3.0 + 10 * 15.0) / 1e6 * 100  # cents
    assert worst_case_cents(body, (MODEL,)) >= cost_if_a_token_a_byte
