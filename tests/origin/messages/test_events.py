"""Anthropic's event stream: a stored message replays as the events that assemble back into it."""

from origin.messages.events import MessageAssembler, encode, replay


def test_a_message_replays_and_reassembles() -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Hi there"},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    events = replay(message)
    assert events[0]["message"]["content"] == [] and events[0]["message"]["usage"]["output_tokens"] == 0
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    assembler = MessageAssembler()
    for event in events:
        assert not assembler.complete
        assembler.add(event)
    assert assembler.complete and assembler.message() == message
    assert assembler.text() == "hmmHi there" + '{"city": "Oslo"}'


def test_events_are_encoded_with_their_type_as_the_event_name() -> None:
    assert encode({"type": "ping"}) == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_an_unfinished_stream_is_not_complete() -> None:
    assembler = MessageAssembler()
    assembler.add(
        {"type": "message_start", "message": {"id": "m", "content": [], "usage": {"input_tokens": 3}}}
    )
    assembler.add({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    assembler.add({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "par"}})
    assert not assembler.complete and assembler.text() == "par" and assembler.usage == {"input_tokens": 3}
