"""Chat answers as Responses objects and event streams: one builder for completions, chunks and replays."""

from typing import Any

import orjson

from origin.providers.base import Usage
from origin.responses.output import ResponseBuilder, adopt, encode, replay, responses_usage, shell


def _builder(**body: Any) -> ResponseBuilder:
    return ResponseBuilder(shell({"input": "x", **body}, response_id="resp_1", model="m"))


def test_a_completion_with_text_and_calls_is_a_message_then_function_calls() -> None:
    completion = {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": "Let me look.",
                    "tool_calls": [
                        {"id": "call_a", "function": {"name": "f", "arguments": '{"q":1}'}},
                        {"id": "call_b", "function": {"name": "g", "arguments": "{}"}},
                    ],
                },
            }
        ]
    }
    response = _builder(metadata={"k": "v"}).completion(
        completion, Usage(tokens_in=10, tokens_out=4, tokens_cached_in=6)
    )
    kinds = [(item["type"], item["status"]) for item in response["output"]]
    assert kinds == [("message", "completed"), ("function_call", "completed"), ("function_call", "completed")]
    assert response["output"][0]["content"][0]["text"] == "Let me look."
    assert [item["call_id"] for item in response["output"][1:]] == ["call_a", "call_b"]
    assert response["output"][1]["arguments"] == '{"q":1}'
    assert (response["status"], response["metadata"], response["store"]) == ("completed", {"k": "v"}, True)
    assert response["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 6},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 14,
    }


def test_a_length_stop_is_incomplete() -> None:
    completion = {"choices": [{"finish_reason": "length", "message": {"content": "trunc"}}]}
    response = _builder().completion(completion, Usage(tokens_in=1, tokens_out=1))
    assert response["status"] == "incomplete" and response["incomplete_details"] == {
        "reason": "max_output_tokens"
    }
    assert response["output"][0]["status"] == "incomplete" and "completed_at" not in response


def test_stream_chunks_give_numbered_events_and_the_same_object() -> None:
    builder = _builder()
    events = builder.start()
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a"'}}
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}}
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    finish = None
    for chunk in chunks:
        more, reason = builder.chunk(chunk)
        events += more
        finish = reason or finish
    events += builder.finish(finish, responses_usage(Usage(tokens_in=3, tokens_out=2)))
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    assert [event["type"] for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["output"] == [] and events[0]["response"]["status"] == "in_progress"
    assert events[6]["text"] == "Hello" and events[12]["arguments"] == '{"a":1}'
    assert events[9]["output_index"] == 1 and events[12]["item_id"] == builder.response["output"][1]["id"]
    final = events[-1]["response"]
    assert final["output"][1]["arguments"] == '{"a":1}' and final["usage"]["total_tokens"] == 5
    wire = encode(events[4])
    assert wire.startswith(b"event: response.output_text.delta\ndata: ") and wire.endswith(b"\n\n")
    assert orjson.loads(wire.split(b"data: ", 1)[1])["delta"] == "Hel"


def test_a_replay_is_the_stored_output_under_a_new_id() -> None:
    completion = {"choices": [{"finish_reason": "stop", "message": {"content": "cached words"}}]}
    stored = _builder().completion(completion, Usage(tokens_in=2, tokens_out=2))
    fresh = shell({"input": "x", "metadata": {"new": "1"}}, response_id="resp_2", model="m")
    response, events = replay(stored, fresh)
    assert response["id"] == "resp_2" and response["metadata"] == {"new": "1"}
    assert response["output"][0]["content"] == stored["output"][0]["content"]
    assert response["usage"] == stored["usage"] and events[-1]["type"] == "response.completed"
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["cached words"]


def test_an_upstreams_response_is_adopted_under_prisms_identity() -> None:
    upstream = {
        "id": "resp_upstream",
        "model": "gpt-5-2025-08-07",
        "store": False,
        "previous_response_id": None,
        "output": [{"type": "reasoning", "id": "rs_1", "summary": []}],
        "usage": {"input_tokens": 3},
    }
    fresh = shell({"input": "x", "previous_response_id": "resp_0"}, response_id="resp_prism", model="gpt-5")
    adopted = adopt(upstream, fresh)
    assert (adopted["id"], adopted["model"], adopted["store"]) == ("resp_prism", "gpt-5", True)
    assert adopted["previous_response_id"] == "resp_0"
    assert (adopted["output"], adopted["usage"]) == (upstream["output"], upstream["usage"])
