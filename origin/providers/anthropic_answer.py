"""Anthropic's answers in OpenAI's terms: finish reasons, usage, refusals, and the event stream."""

import json
from typing import Any, Final

from origin.providers.anthropic_fields import RESPONSE_TOOL
from origin.providers.base import JSON, ModelConfig, SSEEvent, UpstreamStreamError, Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
WRITE_FIELDS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
REFUSAL: Final = "The provider declined to answer (Anthropic stop_reason 'refusal')."


def usage_from_anthropic(data: Any) -> Usage:
    """Anthropic's ``input_tokens`` leaves out cache reads and writes; ``Usage.tokens_in`` counts them.

    ``cache_creation`` splits the writes by how long they are kept; without it (older API versions)
    every write is a 5-minute one, Anthropic's default.
    """
    if not isinstance(data, dict):
        return Usage()
    read = _tokens(data.get("cache_read_input_tokens"))
    write = _tokens(data.get("cache_creation_input_tokens"))
    split = data.get("cache_creation")
    hour = min(_tokens(split.get("ephemeral_1h_input_tokens")), write) if isinstance(split, dict) else 0
    return Usage(
        tokens_in=_tokens(data.get("input_tokens")) + read + write,
        tokens_out=_tokens(data.get("output_tokens")),
        tokens_cached_in=read,
        tokens_cache_write_5m=write - hour,
        tokens_cache_write_1h=hour,
    )


def _tokens(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def finish_reason(stop_reason: Any, *, answered: bool = False) -> str:
    """``answered``: the forced ``response_format`` tool carried the answer, so its call is the end."""
    if answered and stop_reason == "tool_use":
        return "stop"
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def is_answer_block(block: JSON) -> bool:
    return block.get("type") == "tool_use" and block.get("name") == RESPONSE_TOOL


def error_text(data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = data["error"].get("message")
        if isinstance(message, str) and message:
            return message[:300]
    return None


class AnthropicStreamTranslator:
    def __init__(self, model: ModelConfig, completion_id: str, created: int) -> None:
        self.model = model
        self.completion_id = completion_id
        self.created = created
        self.usage = Usage()
        self.finished = False
        self._counts: dict[str, int] = {}
        self._version: str | None = None
        self._tool_indexes: dict[Any, int] = {}
        self._answer_blocks: set[Any] = set()

    def feed(self, event: SSEEvent) -> list[JSON]:
        if not event.data.strip():
            return []
        try:
            payload = json.loads(event.data)
        except json.JSONDecodeError as error:
            raise UpstreamStreamError("upstream sent a malformed stream event") from error
        if not isinstance(payload, dict):
            return []
        match payload.get("type"):
            case "message_start":
                message = payload.get("message")
                if isinstance(message, dict) and isinstance(message.get("model"), str):
                    self._version = self.usage.model_version = message["model"]
                self._count(message.get("usage") if isinstance(message, dict) else None)
                return [self._chunk({"role": "assistant", "content": ""})]
            case "content_block_start":
                return self._block_start(payload.get("index"), payload.get("content_block"))
            case "content_block_delta":
                return self._block_delta(payload.get("index"), payload.get("delta"))
            case "message_delta":
                self._count(payload.get("usage"))
                delta = payload.get("delta")
                stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else None
                ending = {"refusal": REFUSAL} if stop_reason == "refusal" else {}
                reason = finish_reason(stop_reason, answered=bool(self._answer_blocks))
                return [self._chunk(ending, reason)]
            case "message_stop":
                self.finished = True
            case "error":
                raise UpstreamStreamError(error_text(payload) or "upstream reported a stream error")
        return []

    def _block_start(self, index: Any, block: Any) -> list[JSON]:
        if not isinstance(block, dict):
            return []
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if is_answer_block(block):
            self._answer_blocks.add(index)
            return []
        if block.get("type") == "tool_use":
            tool_index = self._tool_indexes[index] = len(self._tool_indexes)
            function = {"name": block.get("name"), "arguments": ""}
            call = {"index": tool_index, "id": block.get("id"), "type": "function", "function": function}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _block_delta(self, index: Any, delta: Any) -> list[JSON]:
        if not isinstance(delta, dict):
            return []
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if (
            delta.get("type") == "input_json_delta"
            and delta.get("partial_json")
            and index in self._answer_blocks
        ):
            return [self._chunk({"content": delta["partial_json"]})]
        if (
            delta.get("type") == "input_json_delta"
            and delta.get("partial_json")
            and index in self._tool_indexes
        ):
            call = {"index": self._tool_indexes[index], "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _count(self, usage: Any) -> None:
        """Stream counts are cumulative, so a later event never lowers one."""
        if not isinstance(usage, dict):
            return
        split = usage.get("cache_creation")
        seen = [(key, usage.get(key)) for key in USAGE_FIELDS]
        seen += [(key, split.get(key)) for key in WRITE_FIELDS] if isinstance(split, dict) else []
        for key, value in seen:
            if isinstance(value, int):
                self._counts[key] = max(self._counts.get(key, 0), value)
        self.usage = usage_from_anthropic({**self._counts, "cache_creation": self._counts})
        self.usage.model_version = self._version

    def _chunk(self, delta: JSON, reason: str | None = None) -> JSON:
        return {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model.name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}],
        }
