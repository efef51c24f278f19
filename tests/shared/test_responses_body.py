"""The Responses body check: what Prism carries, and a 400 naming the field for what it cannot."""

from typing import Any

import pytest

from shared.errors import InvalidBody
from shared.responses_body import validate_responses_body

GOOD: dict[str, Any] = {"model": "alpha", "input": "hi"}


def test_good_bodies_are_returned_as_they_are() -> None:
    items = [
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "done"},
    ]
    body = {
        **GOOD,
        "input": items,
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
        "metadata": {"a": "b"},
        "stream": True,
        "store": False,
        "previous_response_id": "resp_1",
        "max_output_tokens": 20,
    }
    assert validate_responses_body(body) is body
    assert validate_responses_body({"input": "no model: auto"})


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": ""}, "model"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": [3]}, "input[0]"),
        ({"input": [{"type": "telepathy"}]}, "input[0].type"),
        ({"input": [{"type": ["message"]}]}, "input[0].type"),
        ({"input": [{"role": {"r": 1}, "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user", "content": [{"type": {}}]}]}, "input[0].content"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user", "content": [{"type": "video"}]}]}, "input[0].content"),
        ({"input": [{"type": "function_call", "call_id": "c", "name": "f"}]}, "input[0].arguments"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": [{"type": "function_call_output", "call_id": "c", "output": 3}]}, "input[0].output"),
        ({"instructions": ["x"]}, "instructions"),
        ({"stream": "yes"}, "stream"),
        ({"previous_response_id": ""}, "previous_response_id"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"metadata": {"a": 1}}, "metadata"),
        ({"tools": [{"name": "no type"}]}, "tools[0]"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": ["auto"]}, "tool_choice"),
        ({"text": "json"}, "text"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"text": {"format": {"type": ["text"]}}}, "text.format.type"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidBody) as refused:
        validate_responses_body({**GOOD, **change})
    assert refused.value.param == param and param in str(refused.value)


def test_a_body_that_is_not_an_object() -> None:
    with pytest.raises(InvalidBody) as refused:
        validate_responses_body(["no"])
    assert refused.value.code == "invalid_body"
