"""A stored ``chat.completion`` served again: as JSON with a fresh identity, or as the SSE stream
a client would have received. Both tiers serve cache hits with these functions."""

import json
import os
import time
from typing import Any, Final

from shared.costs import Costs

DONE: Final = b"data: [DONE]\n\n"
JSON_CONTENT_TYPE: Final = "application/json"
# What Starlette's StreamingResponse sends for media type text/event-stream.
SSE_CONTENT_TYPE: Final = "text/event-stream; charset=utf-8"
# Built once: ``json.dumps`` with options builds an encoder on every call (half of a small chunk's cost).
_JSON: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_CHUNK_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_bytes(payload: Any) -> bytes:
    """Serialised as Starlette's JSONResponse does on the origin."""
    return _JSON.encode(payload).encode("utf-8")


def fresh_identity(completion: dict[str, Any]) -> dict[str, Any]:
    """A served copy gets its own id and timestamp; the answer itself is unchanged."""
    return {**completion, "id": f"chatcmpl-{os.urandom(16).hex()}", "created": int(time.time())}


def replay_chunks(
    completion: dict[str, Any], *, include_usage: bool, costs: Costs | None = None
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of ``completion``, in stream order."""
    base: dict[str, Any] = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    chunks: list[dict[str, Any]] = []
    for choice in completion["choices"]:
        index, message = choice["index"], choice["message"]
        chunks.append(chunk(index, {"role": "assistant", "content": ""}))
        if message.get("content"):
            chunks.append(chunk(index, {"content": message["content"]}))
        if message.get("refusal"):
            chunks.append(chunk(index, {"refusal": message["refusal"]}))
        for position, call in enumerate(message.get("tool_calls") or ()):
            chunks.append(chunk(index, {"tool_calls": [{"index": position, **call}]}))
        chunks.append(chunk(index, {}, choice.get("finish_reason") or "stop"))
    if include_usage:
        usage_chunk = {**base, "choices": [], "usage": completion.get("usage")}
        chunks.append(usage_chunk if costs is None else {**usage_chunk, "prism": costs.extension()})
    return chunks


def sse_data(data: bytes) -> bytes:
    """One SSE event carrying ``data``, JSON already encoded."""
    return b"data: " + data + b"\n\n"


def named_event(kind: str, data: bytes | str) -> bytes:
    """One named SSE event, as the Messages and Responses streams send them."""
    raw = data.encode() if isinstance(data, str) else data
    return b"event: " + kind.encode() + b"\ndata: " + raw + b"\n\n"


def sse_event(payload: Any) -> bytes:
    return sse_data(_CHUNK_JSON.encode(payload).encode("utf-8"))


def replay_sse(completion: dict[str, Any], *, include_usage: bool, costs: Costs | None = None) -> bytes:
    """The whole replayed stream, ``[DONE]`` included (after the costs' comment when given)."""
    chunks = replay_chunks(completion, include_usage=include_usage, costs=costs)
    ending = DONE if costs is None else costs.comment() + DONE
    return b"".join(sse_event(chunk) for chunk in chunks) + ending
