"""The Messages body check: what Prism carries, and a 400 naming the field for what it cannot."""

from typing import Any

import pytest

from shared.errors import InvalidBody
from shared.messages_body import validate_count_tokens_body, validate_messages_body

GOOD: dict[str, Any] = {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def test_a_good_body_is_returned_as_it_is() -> None:
    body = {**GOOD, "system": [{"type": "text", "text": "s"}], "stream": True, "tools": [{"name": "t"}]}
    assert validate_messages_body(body) is body
    assert validate_count_tokens_body({"model": "claude", "messages": GOOD["messages"]})


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": ""}, "model"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, "messages.0.content"),
        ({"system": 3}, "system"),
        ({"stream": "yes"}, "stream"),
        ({"temperature": 1.5}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"tools": [{"description": "no name"}]}, "tools"),
        ({"tool_choice": "auto"}, "tool_choice"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidBody) as refused:
        validate_messages_body({**GOOD, **change})
    assert refused.value.param == param and param in str(refused.value)


def test_a_body_that_is_not_an_object() -> None:
    with pytest.raises(InvalidBody):
        validate_messages_body(["no"])
