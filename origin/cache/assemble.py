"""From stream chunks to the ``chat.completion`` they add up to (``shared.replay`` goes the other way)."""

import time
import uuid

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
                index, {"role": "assistant", "content": None, "refusal": None, "finish_reason": None}
            )
            delta = choice.get("delta") or {}
            for text in ("content", "refusal"):
                if isinstance(delta.get(text), str) and delta[text]:
                    message[text] = (message[text] or "") + delta[text]
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
    def finished_any(self) -> bool:
        """Some choice has finished."""
        return any(m["finish_reason"] for m in self._choices.values())

    def streamed_text(self) -> str:
        """Every choice's content and tool-call arguments so far: what a token estimate counts."""
        contents = [m["content"] for m in self._choices.values() if m["content"]]
        arguments = [
            c["function"]["arguments"] for calls in self._tool_calls.values() for c in calls.values()
        ]
        return "".join(contents + arguments)

    @property
    def complete(self) -> bool:
        """Every choice seen has finished (an interrupted stream is never complete)."""
        return bool(self._choices) and all(m["finish_reason"] for m in self._choices.values())

    def completion(self, usage: Usage) -> JSON:
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message: JSON = {"role": "assistant", "content": state["content"], "refusal": state["refusal"]}
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
