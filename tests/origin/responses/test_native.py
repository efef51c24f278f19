from origin.providers.base import JSON
from origin.responses.native import native_body

CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}
RESULT = {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}


def test_the_upstream_gets_the_stored_chain_then_the_input_and_keeps_nothing() -> None:
    history = [{"type": "message", "role": "user", "content": "Paris"}, CALL]
    body = {
        "model": "gpt-5",
        "input": [RESULT],
        "previous_response_id": "resp_1",
        "store": True,
        "stream": True,
        "instructions": "Be terse.",
        "tools": [{"type": "web_search"}],
        "include": ["reasoning.encrypted_content"],
    }
    native = native_body(body, history, stream=False)
    assert native == {
        "model": "gpt-5",
        "input": [*history, RESULT],
        "store": False,
        "instructions": "Be terse.",
        "tools": [{"type": "web_search"}],
        "include": ["reasoning.encrypted_content"],
    }
    assert native_body(body, history, stream=True)["stream"] is True
    assert body["store"] is True and body["input"] == [RESULT]  # the client's body is left as it came


def test_only_items_the_upstream_can_read_again_are_resent() -> None:
    history: list[JSON] = [
        {"type": "message", "role": "user", "content": "think"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gAAA"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
    ]
    native = native_body({"model": "gpt-5", "input": "and?"}, history, stream=False)
    assert [item.get("id") or item["type"] for item in native["input"]] == [
        "message",
        "rs_2",
        "message",
        "message",
    ]
    assert native["input"][-1] == {"type": "message", "role": "user", "content": "and?"}
