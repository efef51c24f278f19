"""An OpenAI chat answer in Anthropic Messages terms: the message, and its event stream chunk by chunk."""

import json
import uuid
from typing import Any

from origin.providers.base import JSON, Usage

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def anthropic_usage(usage: Usage) -> JSON:
    """Anthropic counts cache reads and writes apart from ``input_tokens``."""
    written = usage.tokens_cache_write_5m + usage.tokens_cache_write_1h
    return {
        "input_tokens": usage.tokens_fresh_in,
        "output_tokens": usage.tokens_out,
        "cache_read_input_tokens": usage.tokens_cached_in,
        "cache_creation_input_tokens": written,
    }


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def _arguments(text: Any) -> Any:
    try:
        return json.loads(text or "{}")
    except (TypeError, json.JSONDecodeError):
        return {}


def message_from_completion(completion: JSON, model: str, usage: Usage) -> JSON:
    choice = (completion.get("choices") or [{}])[0]
    said = choice.get("message") or {}
    content: list[JSON] = []
    if isinstance(said.get("content"), str) and said["content"]:
        content.append({"type": "text", "text": said["content"]})
    for call in said.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                "name": function.get("name"),
                "input": _arguments(function.get("arguments")),
            }
        )
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": anthropic_usage(usage),
    }


def event(kind: str, **payload: Any) -> JSON:
    return {"type": kind, **payload}


class EventsFromChunks:
    """Feeds OpenAI ``chat.completion.chunk`` objects, yields Anthropic stream events.

    ``close(usage)`` ends the message once the upstream has finished (its usage comes last)."""

    def __init__(self, model: str, prompt_tokens: int) -> None:
        self._model = model
        self._prompt_tokens = prompt_tokens
        self._started = False
        self._open: str | int | None = None  # "text", or the OpenAI index of the open tool call
        self._blocks = 0
        self._stop: str | None = None

    @property
    def stopped(self) -> bool:
        """The upstream said why the answer ended (its usage may still be on the way)."""
        return self._stop is not None

    def feed(self, chunk: JSON) -> list[JSON]:
        events = self._start()
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                if self._open != "text":
                    events += self._open_block({"type": "text", "text": ""}, "text")
                text_delta = {"type": "text_delta", "text": delta["content"]}
                events.append(event("content_block_delta", index=self._blocks - 1, delta=text_delta))
            for call in delta.get("tool_calls") or ():
                events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self._stop = stop_reason(choice["finish_reason"])
        return events

    def close(self, usage: Usage) -> list[JSON]:
        events = self._start() + self._close_block()
        ending = {"stop_reason": self._stop or "end_turn", "stop_sequence": None}
        events.append(event("message_delta", delta=ending, usage=anthropic_usage(usage)))
        events.append(event("message_stop"))
        return events

    def _start(self) -> list[JSON]:
        if self._started:
            return []
        self._started = True
        message: JSON = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._prompt_tokens, "output_tokens": 0},
        }
        return [event("message_start", message=message)]

    def _tool_delta(self, call: JSON) -> list[JSON]:
        events: list[JSON] = []
        index = call.get("index", 0)
        function = call.get("function") or {}
        if call.get("id") and self._open != index:
            block = {"type": "tool_use", "id": call["id"], "name": function.get("name"), "input": {}}
            events += self._open_block(block, index)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments and self._open == index:
            json_delta = {"type": "input_json_delta", "partial_json": arguments}
            events.append(event("content_block_delta", index=self._blocks - 1, delta=json_delta))
        return events

    def _open_block(self, block: JSON, which: str | int) -> list[JSON]:
        events = self._close_block()
        events.append(event("content_block_start", index=self._blocks, content_block=block))
        self._open = which
        self._blocks += 1
        return events

    def _close_block(self) -> list[JSON]:
        if self._open is None:
            return []
        self._open = None
        return [event("content_block_stop", index=self._blocks - 1)]
