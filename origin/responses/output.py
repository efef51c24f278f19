"""A chat answer as a Responses object, and as the Responses event stream that builds it.

``ResponseBuilder`` is the one place output items are made: a whole completion, a stream's chunks
and a cached response replayed all go through its ``text`` and ``call`` steps, which return the
events a streaming client is sent (in the documented order, numbered) while the builder keeps the
items for the final object.
"""

import time
import uuid
from typing import Any

import orjson

from origin.providers.base import JSON, Usage
from shared.replay import named_event

INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
# Fields of the request the response object echoes, with the API's defaults.
ECHOED: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "prompt_cache_key": None,
    "safety_identifier": None,
    "store": True,
    "temperature": None,
    "tool_choice": "auto",
    "tools": [],
    "top_p": None,
    "user": None,
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def shell(body: JSON, *, response_id: str, model: str) -> JSON:
    """The response object before any output: what the request asked, echoed."""
    echoed = {name: default if body.get(name) is None else body[name] for name, default in ECHOED.items()}
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": model,
        "output": [],
        "error": None,
        "incomplete_details": None,
        "text": {"format": (body.get("text") or {}).get("format") or {"type": "text"}},
        "truncation": "disabled",
        "reasoning": {"effort": None, "summary": None},
        "usage": None,
        **echoed,
    }


# What Prism, not the upstream, says of a response it answered natively.
ADOPTED = ("id", "model", "previous_response_id", "store")


def adopt(upstream: JSON, fresh: JSON) -> JSON:
    """An upstream's response object as Prism's: ``fresh``'s id, public model name and store fields."""
    return {**upstream, **{name: fresh[name] for name in ADOPTED}}


def responses_usage(usage: Usage) -> JSON:
    return {
        "input_tokens": usage.tokens_in,
        "input_tokens_details": {"cached_tokens": usage.tokens_cached_in},
        "output_tokens": usage.tokens_out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.tokens_in + usage.tokens_out,
    }


def encode(event: JSON) -> bytes:
    return named_event(str(event["type"]), orjson.dumps(event))


def _text_part(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


class ResponseBuilder:
    def __init__(self, response: JSON) -> None:
        self.response = response
        self._sequence = 0
        self._open: JSON | None = None  # the output item being written
        self._open_text: list[str] = []
        self._call_index: int | None = None  # chat's index of the tool call being written

    def _event(self, kind: str, **fields: Any) -> JSON:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _where(self) -> JSON:
        assert self._open is not None
        return {"item_id": self._open["id"], "output_index": len(self.response["output"])}

    def start(self) -> list[JSON]:
        before = {**self.response, "output": []}  # as it stands now, not as it will end
        return [
            self._event("response.created", response=before),
            self._event("response.in_progress", response=before),
        ]

    def error(self, code: str, message: str) -> JSON:
        return self._event("error", code=code, message=message, param=None)

    def text(self, delta: str) -> list[JSON]:
        events: list[JSON] = []
        if self._open is None or self._open["type"] != "message":
            events += self._close()
            self._open = {
                "id": new_id("msg"),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
            }
            self._open_text = []
            events.append(self._added({**self._open, "content": []}))
            events.append(
                self._event(
                    "response.content_part.added", **self._where(), content_index=0, part=_text_part("")
                )
            )
        if delta:
            self._open_text.append(delta)
            events.append(
                self._event(
                    "response.output_text.delta", **self._where(), content_index=0, delta=delta, logprobs=[]
                )
            )
        return events

    def call(self, index: int, call_id: str | None, name: str | None, arguments: str) -> list[JSON]:
        """A piece of the function call chat numbers ``index``; a new index starts a new item."""
        events: list[JSON] = []
        if self._open is None or self._open["type"] != "function_call" or self._call_index != index:
            events += self._close()
            self._call_index = index
            self._open = {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": call_id or new_id("call"),
                "name": name or "",
                "arguments": "",
            }
            events.append(self._added(dict(self._open)))
        if arguments:
            self._open["arguments"] += arguments
            events.append(
                self._event("response.function_call_arguments.delta", **self._where(), delta=arguments)
            )
        return events

    def _added(self, item: JSON) -> JSON:
        return self._event("response.output_item.added", output_index=len(self.response["output"]), item=item)

    def _close(self, status: str = "completed") -> list[JSON]:
        item = self._open
        if item is None:
            return []
        where = self._where()
        events: list[JSON] = []
        if item["type"] == "message":
            text = "".join(self._open_text)
            events.append(
                self._event("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
            )
            events.append(
                self._event("response.content_part.done", **where, content_index=0, part=_text_part(text))
            )
            item = {**item, "content": [_text_part(text)]}
        else:
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    **where,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
        item = {**item, "status": status}
        events.append(self._event("response.output_item.done", output_index=where["output_index"], item=item))
        self.response["output"].append(item)
        self._open = None
        self._call_index = None
        return events

    def finish(self, finish_reason: str | None, usage: JSON) -> list[JSON]:
        """Close what is open; the final event carries the whole response."""
        reason = INCOMPLETE.get(finish_reason or "")
        events = self._close("incomplete" if reason else "completed")
        self.response.update(
            status="incomplete" if reason else "completed",
            incomplete_details={"reason": reason} if reason else None,
            usage=usage,
        )
        if reason is None:
            self.response["completed_at"] = int(time.time())
        kind = "response.incomplete" if reason else "response.completed"
        return [*events, self._event(kind, response=self.response)]

    def chunk(self, chunk: JSON) -> tuple[list[JSON], str | None]:
        """A chat stream chunk's events, and its finish reason if it has one."""
        events: list[JSON] = []
        finish: str | None = None
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                events += self.text(delta["content"])
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                events += self.call(
                    int(call.get("index") or 0),
                    call.get("id"),
                    function.get("name"),
                    function.get("arguments") or "",
                )
            finish = choice.get("finish_reason") or finish
        return events, finish

    def completion(self, completion: JSON, usage: Usage) -> JSON:
        """A whole chat completion as the finished response."""
        choice = (completion.get("choices") or [{}])[0]
        said = choice.get("message") or {}
        if isinstance(said.get("content"), str) and said["content"]:
            self.text(said["content"])
        for index, call in enumerate(said.get("tool_calls") or ()):
            function = call.get("function") or {}
            self.call(index, call.get("id"), function.get("name"), str(function.get("arguments") or ""))
        self.finish(choice.get("finish_reason"), responses_usage(usage))
        return self.response


def replay(stored: JSON, fresh: JSON) -> tuple[JSON, list[JSON]]:
    """A stored response's output again under ``fresh`` (a new shell): the object and its events."""
    builder = ResponseBuilder(fresh)
    events = builder.start()
    for index, item in enumerate(stored["output"]):
        if item["type"] == "message":
            text = "".join(
                part.get("text") or part.get("refusal") or "" for part in item.get("content") or ()
            )
            events += builder.text(text)
        elif item["type"] == "function_call":
            events += builder.call(index, item["call_id"], item["name"], item["arguments"])
    details = stored.get("incomplete_details") or {}
    reason = next((chat for chat, mine in INCOMPLETE.items() if mine == details.get("reason")), None)
    events += builder.finish(reason, stored["usage"])
    return builder.response, events
