from typing import Any

from origin.providers.anthropic import AnthropicAdapter
from origin.providers.anthropic_cache import EPHEMERAL, minimum_tokens, with_breakpoints
from origin.providers.base import ModelConfig, Price, ProviderConfig

LONG = "x" * 4100  # 1,025 tokens at four characters each
MODEL = ModelConfig(
    name="claude", provider="anthropic", upstream_model="claude-sonnet-4-5", price=Price(3, 15)
)
PROVIDER = ProviderConfig(name="anthropic", kind="anthropic", base_url="https://api.anthropic.com")


def _tool(name: str, description: str = "") -> dict[str, Any]:
    return {"name": name, "description": description, "input_schema": {"type": "object", "properties": {}}}


def _request(**fields: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    } | fields


def test_a_long_system_prompt_ends_in_a_breakpoint() -> None:
    marked = with_breakpoints(_request(system=LONG))
    assert marked["system"] == [{"type": "text", "text": LONG, "cache_control": EPHEMERAL}]
    assert marked["messages"] == [{"role": "user", "content": "hi"}]


def test_a_prefix_under_the_minimum_is_left_alone() -> None:
    request = _request(system=LONG[:4000], tools=[_tool("look")])
    assert with_breakpoints(request) == request


def test_tools_long_enough_alone_get_their_own_breakpoint_and_count_toward_the_systems() -> None:
    tools = [_tool("first"), _tool("second", LONG)]
    marked = with_breakpoints(_request(system="Be brief.", tools=tools))
    assert marked["tools"] == [tools[0], {**tools[1], "cache_control": EPHEMERAL}]
    assert marked["system"] == [{"type": "text", "text": "Be brief.", "cache_control": EPHEMERAL}]

    short_tools = [_tool("first", LONG[:2000])]
    marked = with_breakpoints(_request(system=LONG[:2200], tools=short_tools))
    assert marked["tools"] == short_tools  # 500-odd tokens alone: too short to cache by themselves
    assert marked["system"][0]["cache_control"] == EPHEMERAL  # with the system prompt: long enough


def test_haiku_needs_twice_the_prefix() -> None:
    assert minimum_tokens("claude-3-5-haiku-latest") == 2048
    assert minimum_tokens("claude-sonnet-4-5") == 1024
    request = _request(model="claude-3-5-haiku-latest", system=LONG)
    assert with_breakpoints(request) == request
    assert with_breakpoints({**request, "system": LONG * 2})["system"][0]["cache_control"] == EPHEMERAL


def test_the_adapter_marks_only_when_asked_and_never_the_messages() -> None:
    tool_turns = [
        {"role": "system", "content": LONG},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": LONG},
    ]
    body = {"model": "claude", "messages": tool_turns}
    plain = AnthropicAdapter().chat_request(body, MODEL, PROVIDER).body
    assert plain["system"] == LONG
    marked = AnthropicAdapter().chat_request(body, MODEL, PROVIDER, cache_breakpoints=True).body
    assert marked["system"] == [{"type": "text", "text": LONG, "cache_control": EPHEMERAL}]
    assert marked["messages"] == plain["messages"]
    assert "cache_control" not in str(marked["messages"])
