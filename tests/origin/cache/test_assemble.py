import json

from origin.cache.assemble import ChunkAssembler
from origin.providers.base import Usage
from shared.replay import fresh_identity, replay_chunks, replay_sse

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "alpha",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello world", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        },
        {
            "index": 1,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": None,
        },
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
}


def test_replay_then_assemble_gives_the_same_answer() -> None:
    chunks = replay_chunks(COMPLETION, include_usage=True)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == COMPLETION["usage"]
    assembler = ChunkAssembler()
    for chunk in chunks:
        assembler.add(json.loads(json.dumps(chunk)))
    assert assembler.complete
    rebuilt = assembler.completion(Usage(tokens_in=3, tokens_out=4))
    assert rebuilt["choices"] == COMPLETION["choices"]
    assert rebuilt["model"] == "alpha"


def test_fragmented_tool_call_arguments_reassemble() -> None:
    assembler = ChunkAssembler()
    pieces = [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "tool_calls": [
                            {"index": 0, "id": "c", "function": {"name": "lookup", "arguments": ""}}
                        ],
                    },
                }
            ]
        },
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"q": '}}]}}
            ]
        },
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}}
            ]
        },
    ]
    for piece in pieces:
        assembler.add(piece)
    assert not assembler.complete  # no finish_reason yet: an interrupted stream is never stored
    assembler.add({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    call = assembler.completion(Usage())["choices"][0]["message"]["tool_calls"][0]
    assert call["id"] == "c" and json.loads(call["function"]["arguments"]) == {"q": "x"}


def test_without_usage_and_fresh_identity() -> None:
    assert all(chunk["choices"] for chunk in replay_chunks(COMPLETION, include_usage=False))
    copy = fresh_identity(COMPLETION)
    assert copy["id"] != COMPLETION["id"] and copy["choices"] == COMPLETION["choices"]


def test_replay_sse_is_data_lines_then_done() -> None:
    raw = replay_sse(COMPLETION, include_usage=False)
    events = raw.decode().split("\n\n")
    assert events[-2] == "data: [DONE]" and events[-1] == ""
    assert all(event.startswith("data: {") for event in events[:-2])


def test_a_streamed_refusal_is_the_message_refusal_and_replays() -> None:
    assembler = ChunkAssembler()
    assembler.add({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    assembler.add({"choices": [{"index": 0, "delta": {"refusal": "I can't "}}]})
    assembler.add({"choices": [{"index": 0, "delta": {"refusal": "help."}, "finish_reason": "stop"}]})
    completion = assembler.completion(Usage())
    message = completion["choices"][0]["message"]
    assert message == {"role": "assistant", "content": None, "refusal": "I can't help."}
    again = ChunkAssembler()
    for chunk in replay_chunks(completion, include_usage=False):
        again.add(chunk)
    assert again.completion(Usage())["choices"] == completion["choices"]


def test_what_was_streamed_and_whether_a_choice_finished_are_known_along_the_way() -> None:
    assembler = ChunkAssembler()
    assert not assembler.finished_any and assembler.streamed_text() == ""
    assembler.add({"choices": [{"index": 0, "delta": {"content": "hello "}}]})
    assembler.add(
        {
            "choices": [
                {"index": 1, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}},
                {"index": 0, "delta": {"content": "world", "refusal": "no"}, "finish_reason": "stop"},
            ]
        }
    )
    assert assembler.finished_any and not assembler.complete
    # content and tool-call arguments, as a token estimate counts them; a refusal is not counted
    assert sorted(assembler.streamed_text()) == sorted('hello world{"a"')
