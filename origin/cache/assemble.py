"""Between the two shapes of one answer: a list of stream chunks and a ``chat.completion`` object."""

import time
import uuid
from typing import Any

from origin.providers.base import JSON, Usage


class ChunkAssembler:
    """Collects ``chat.completion.chunk`` objects into the equivalent ``chat.completion``."""

    def __init__(self) -> None:
        self._choices: dict[int, JSON] = {}
        self._tool_calls: dict[int, dict[int, JSON]] = {}
        self._model: str | None = None

    def add(self, chunk: JSON) -> None:
        self._model = chunk.get("model") or self._model
        for choice in chunk.get("choices") or ():
            index = int(choice.get("index", 0))
            message = self._choices.setdefault(
                index, {"role": "assistant", "content": None, "finish_reason": None}
            )
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                message["content"] = (message["content"] or "") + delta["content"]
            for call in delta.get("tool_calls") or ():
                slot = self._tool_calls.setdefault(index, {}).setdefault(
                    int(call.get("index", 0)),
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                message["finish_reason"] = choice["finish_reason"]

    @property
    def complete(self) -> bool:
        """Every choice seen has finished (an interrupted stream is never complete)."""
        return bool(self._choices) and all(m["finish_reason"] for m in self._choices.values())

    def completion(self, usage: Usage) -> JSON:
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message: JSON = {"role": "assistant", "content": state["content"]}
            calls = self._tool_calls.get(index)
            if calls:
                message["tool_calls"] = [calls[i] for i in sorted(calls)]
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "finish_reason": state["finish_reason"],
                    "logprobs": None,
                }
            )
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self._model,
            "choices": choices,
            "usage": usage.openai_usage(),
        }


def replay_chunks(completion: JSON, *, include_usage: bool) -> list[JSON]:
    """The stream a client would have received for ``completion`` (a cache hit, replayed)."""
    base: dict[str, Any] = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }

    def chunk(index: int, delta: JSON, finish: str | None = None) -> JSON:
        return {
            **base,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    chunks: list[JSON] = []
    for choice in completion["choices"]:
        index, message = choice["index"], choice["message"]
        chunks.append(chunk(index, {"role": "assistant", "content": ""}))
        if message.get("content"):
            chunks.append(chunk(index, {"content": message["content"]}))
        for position, call in enumerate(message.get("tool_calls") or ()):
            chunks.append(chunk(index, {"tool_calls": [{"index": position, **call}]}))
        chunks.append(chunk(index, {}, choice.get("finish_reason") or "stop"))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion.get("usage")})
    return chunks


def fresh_identity(completion: JSON) -> JSON:
    """A served copy gets its own id and timestamp; the answer itself is unchanged."""
    return {**completion, "id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time())}
