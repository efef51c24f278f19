"""OpenAI's Responses wire: ``POST /v1/responses``, as a JSON object or as its event stream.

The fake stores nothing: a ``previous_response_id`` is answered as OpenAI answers an id it does not
hold, so a test sees that Prism sends the whole conversation instead. The answer follows the same
token rule and knobs as chat (``tests.fakes.behaviour``), read from the input items.
"""

import json
import time
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.behaviour import STAGE, Answer, Script, answer, parse_json, play, split_reply
from tests.fakes.openai_wire import (
    SYSTEM_FINGERPRINT,
    conversation,
    error_body,
    error_response,
    prompt_parts,
    unauthorised,
)
from tests.fakes.prompt_cache import CacheUsage


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))


def chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The input as chat messages, so the prompt and the answer are decided as chat decides them."""
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    given = body["input"]
    items = [{"role": "user", "content": given}] if isinstance(given, str) else given
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role"), "content": _text(item.get("content"))})
        elif kind == "function_call":
            function = {"name": item.get("name"), "arguments": item.get("arguments")}
            call = {"id": item.get("call_id"), "type": "function", "function": function}
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
            )
    return messages


def _chat_tools(body: dict[str, Any]) -> dict[str, Any]:
    tools = [
        {"type": "function", "function": {"name": tool.get("name")}}
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and tool.get("type") == "function"
    ]
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict):
        choice = {"type": "function", "function": {"name": choice.get("name")}}
    return {"tools": tools, "tool_choice": choice}


class _Reply:
    def __init__(self, body: dict[str, Any], given: Answer, cache: CacheUsage, version: str) -> None:
        self.body = body
        self.answer = given
        self.cache = cache
        self.id = f"resp_{uuid.uuid4().hex}"
        self.item_id = f"{'fc' if given.tool_name else 'msg'}_{uuid.uuid4().hex}"
        self.call_id = f"call_{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = f"{body['model']}-{SYSTEM_FINGERPRINT}-{version}"
        self.sequence = 0

    def usage(self) -> dict[str, Any]:
        cached = self.cache.read
        prompt = self.answer.prompt_tokens + (0 if self.cache.within_prompt else cached + self.cache.written)
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": self.answer.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + self.answer.completion_tokens,
        }

    def item(self, text: str, arguments: str, status: str) -> dict[str, Any]:
        if self.answer.tool_name is not None:
            return {
                "type": "function_call",
                "id": self.item_id,
                "call_id": self.call_id,
                "name": self.answer.tool_name,
                "arguments": arguments,
                "status": status,
            }
        content = [_part(text)] if status == "completed" or text else []
        return {
            "type": "message",
            "id": self.item_id,
            "role": "assistant",
            "status": status,
            "content": content,
        }

    def response(self, *, done: bool) -> dict[str, Any]:
        status = ("incomplete" if self.answer.truncated else "completed") if done else "in_progress"
        echoed = {
            name: self.body.get(name, default)
            for name, default in (
                ("instructions", None),
                ("max_output_tokens", None),
                ("metadata", {}),
                ("parallel_tool_calls", True),
                ("previous_response_id", None),
                ("store", True),
                ("temperature", 1.0),
                ("tool_choice", "auto"),
                ("tools", []),
                ("top_p", 1.0),
                ("user", None),
            )
        }
        output = [self.item(self.answer.text or "", self.answer.arguments, "completed")] if done else []
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "model": self.model,
            "output": output,
            "reasoning": {"effort": None, "summary": None},
            "text": self.body.get("text") or {"format": {"type": "text"}},
            "truncation": "disabled",
            "usage": self.usage() if done else None,
            **echoed,
        }

    def event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()

    def script(self, chunks: int | None) -> Script:
        where = {"item_id": self.item_id, "output_index": 0}
        head = [
            self.event("response.created", response=self.response(done=False)),
            self.event("response.in_progress", response=self.response(done=False)),
            self.event("response.output_item.added", output_index=0, item=self.item("", "", "in_progress")),
        ]
        if self.answer.tool_name is not None:
            pieces = split_reply(self.answer.arguments, chunks)
            body = [self.event("response.function_call_arguments.delta", **where, delta=p) for p in pieces]
            closing = [
                self.event(
                    "response.function_call_arguments.done",
                    **where,
                    name=self.answer.tool_name,
                    arguments=self.answer.arguments,
                )
            ]
        else:
            text = self.answer.text or ""
            head.append(self.event("response.content_part.added", **where, content_index=0, part=_part("")))
            body = [
                self.event("response.output_text.delta", **where, content_index=0, delta=p, logprobs=[])
                for p in split_reply(text, chunks)
            ]
            closing = [
                self.event("response.output_text.done", **where, content_index=0, text=text, logprobs=[]),
                self.event("response.content_part.done", **where, content_index=0, part=_part(text)),
            ]
        item = self.item(self.answer.text or "", self.answer.arguments, "completed")
        closing.append(self.event("response.output_item.done", output_index=0, item=item))
        done = self.response(done=True)
        closing.append(self.event(f"response.{done['status']}", response=done))
        failure = error_body(500)["error"]
        error = self.event("error", code="server_error", message=failure["message"], param=None)
        return Script(head, body, closing, error)


def _part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


async def responses(request: web.Request) -> web.StreamResponse:
    if (rejection := unauthorised(request)) is not None:
        return rejection
    body = parse_json(await request.read())
    if body is None:
        return error_response(400, "We could not parse the JSON body of your request.")
    if not isinstance(body.get("model"), str):
        return error_response(400, "Missing required parameter: 'model'.", param="model")
    given = body.get("input")
    if not (isinstance(given, str) or (isinstance(given, list) and all(isinstance(i, dict) for i in given))):
        return error_response(400, "'input' must be a string or an array of input items.", param="input")
    if isinstance(body.get("previous_response_id"), str):
        previous = body["previous_response_id"]
        return error_response(
            400, f"Previous response with id '{previous}' not found.", param="previous_response_id"
        )
    stage = request.app[STAGE]
    admitted = await stage.admit(body["model"])
    if admitted.failure is not None:
        return error_response(admitted.failure)
    messages = chat_messages(body)
    shape = _chat_tools(body)
    parts = prompt_parts(messages, shape)
    limit = body.get("max_output_tokens")
    decided = answer(
        conversation(messages, shape, parts), admitted.behaviour, limit if isinstance(limit, int) else None
    )
    key = body.get("prompt_cache_key")
    cache = stage.automatic_cache(body["model"], admitted, parts, key if isinstance(key, str) else None)
    reply = _Reply(body, decided, cache, admitted.behaviour.model_version)
    if body.get("stream") is True:
        return await play(request, admitted.behaviour, reply.script(admitted.behaviour.chunks))
    return web.json_response(reply.response(done=True))
