"""Anthropic's Messages event stream: encoding, assembling a message from it, and replaying one."""

import json
from typing import Any

import orjson

from origin.providers.base import JSON
from shared.replay import named_event


def encode(event: JSON) -> bytes:
    return named_event(str(event["type"]), orjson.dumps(event))


class MessageAssembler:
    """The whole message a stream told, once it has ended cleanly (for the cache)."""

    def __init__(self) -> None:
        self._message: JSON | None = None
        self._blocks: dict[int, JSON] = {}
        self._json: dict[int, list[str]] = {}
        self.complete = False

    def add(self, event: JSON) -> None:
        kind, index = event.get("type"), event.get("index")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            self._message = dict(event["message"])
        elif kind == "content_block_start" and isinstance(index, int):
            self._blocks[index] = dict(event.get("content_block") or {})
        elif kind == "content_block_delta" and index in self._blocks:
            assert isinstance(index, int)
            self._delta(index, event.get("delta") or {})
        elif kind == "message_delta" and self._message is not None:
            self._message.update(event.get("delta") or {})
            self._message["usage"] = {**(self._message.get("usage") or {}), **(event.get("usage") or {})}
        elif kind == "message_stop":
            self.complete = self._message is not None

    def _delta(self, index: int, delta: JSON) -> None:
        block = self._blocks[index]
        match delta.get("type"):
            case "text_delta":
                block["text"] = block.get("text", "") + str(delta.get("text") or "")
            case "input_json_delta":
                self._json.setdefault(index, []).append(str(delta.get("partial_json") or ""))
            case "thinking_delta":
                block["thinking"] = block.get("thinking", "") + str(delta.get("thinking") or "")
            case "signature_delta":
                block["signature"] = str(delta.get("signature") or "")

    @property
    def usage(self) -> JSON:
        """The usage counts told so far (a stream's counts are cumulative: the last one holds)."""
        return dict((self._message or {}).get("usage") or {})

    @property
    def model(self) -> str | None:
        model = (self._message or {}).get("model")
        return model if isinstance(model, str) else None

    def text(self) -> str:
        """Everything the model said so far, for an estimate when the upstream never told its usage."""
        said = [str(block.get("text") or block.get("thinking") or "") for block in self._blocks.values()]
        return "".join(said) + "".join("".join(parts) for parts in self._json.values())

    def message(self) -> JSON:
        assert self._message is not None
        blocks = []
        for index in sorted(self._blocks):
            block = self._blocks[index]
            if index in self._json:
                block = {**block, "input": _parsed("".join(self._json[index]))}
            blocks.append(block)
        return {**self._message, "content": blocks}


def _parsed(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}


def replay(message: JSON) -> list[JSON]:
    """The event sequence that streams ``message`` (a cache hit asked for as a stream)."""
    usage = message.get("usage") or {}
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 0},
    }
    events: list[JSON] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.get("content") or ()):
        events += _block_events(index, block)
    ending = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    events.append({"type": "message_delta", "delta": ending, "usage": usage})
    events.append({"type": "message_stop"})
    return events


def _block_events(index: int, block: JSON) -> list[JSON]:
    kind = block.get("type")
    opened: JSON
    delta: JSON | None
    if kind == "text":
        opened, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block.get("text", "")}
    elif kind == "tool_use":
        opened = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input") or {})}
    elif kind == "thinking":
        opened = {"type": "thinking", "thinking": "", "signature": ""}
        delta = {"type": "thinking_delta", "thinking": block.get("thinking", "")}
    else:
        opened, delta = block, None
    events: list[JSON] = [{"type": "content_block_start", "index": index, "content_block": opened}]
    if delta is not None:
        events.append({"type": "content_block_delta", "index": index, "delta": delta})
    if kind == "thinking" and block.get("signature"):
        signature = {"type": "signature_delta", "signature": block["signature"]}
        events.append({"type": "content_block_delta", "index": index, "delta": signature})
    events.append({"type": "content_block_stop", "index": index})
    return events
