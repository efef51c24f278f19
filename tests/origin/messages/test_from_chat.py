"""OpenAI chat answers told in Anthropic's terms: the message and the event stream."""

from origin.messages.events import MessageAssembler
from origin.messages.from_chat import EventsFromChunks, message_from_completion
from origin.providers.base import Usage


def _chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_a_completion_becomes_a_message() -> None:
    completion = {
        "choices": [
            {
                "message": {
                    "content": "Let me check.",
                    "tool_calls": [
                        {"id": "call_1", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    usage = Usage(tokens_in=100, tokens_out=7, tokens_cached_in=40)
    message = message_from_completion(completion, "alpha", usage)
    assert message["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}},
    ]
    assert (message["model"], message["stop_reason"], message["type"]) == ("alpha", "tool_use", "message")
    assert message["usage"] == {
        "input_tokens": 60,
        "output_tokens": 7,
        "cache_read_input_tokens": 40,
        "cache_creation_input_tokens": 0,
    }
    assert message["id"].startswith("msg_")


def test_chunks_become_events_in_anthropics_order() -> None:
    events_of = EventsFromChunks("alpha", prompt_tokens=12)
    events = events_of.feed(_chunk({"role": "assistant", "content": ""}))
    events += events_of.feed(_chunk({"content": "Hel"}))
    events += events_of.feed(_chunk({"content": "lo"}))
    call = {"index": 0, "id": "call_1", "function": {"name": "weather", "arguments": '{"ci'}}
    events += events_of.feed(_chunk({"tool_calls": [call]}))
    events += events_of.feed(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Oslo"}'}}]}))
    events += events_of.feed(_chunk({}, "tool_calls"))
    assert events_of.stopped
    events += events_of.close(Usage(tokens_in=12, tokens_out=9))
    assert [(e["type"], e.get("index")) for e in events] == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assembler = MessageAssembler()
    for event in events:
        assembler.add(event)
    assert assembler.complete
    message = assembler.message()
    assert message["content"] == [
        {"type": "text", "text": "Hello"},
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}},
    ]
    assert message["stop_reason"] == "tool_use" and message["usage"]["output_tokens"] == 9
