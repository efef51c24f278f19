"""The Anthropic wire: ``/v1/messages`` as JSON and as the Messages event stream."""

import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from tests.fakes.behaviour import (
    STAGE,
    Answer,
    Behaviour,
    Conversation,
    Script,
    answer,
    parse_json,
    play,
    split_reply,
)
from tests.fakes.behaviour import (
    count_tokens as tokens_of,
)
from tests.fakes.prompt_cache import CacheUsage, Part, breakpoint_ttl, header

MAX_BREAKPOINTS: Final = 4

_ERRORS: Final[dict[int, tuple[str, str]]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
    500: ("api_error", "Internal server error."),
    503: ("overloaded_error", "Overloaded"),
    529: ("overloaded_error", "Overloaded"),
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind, default = _ERRORS.get(status, ("api_error", f"Upstream error {status}."))
    return {"type": "error", "error": {"type": kind, "message": message or default}}


def error_response(status: int, message: str | None = None) -> web.Response:
    headers = {"Retry-After": "1"} if status == 429 else {}
    return web.json_response(error_body(status, message), status=status, headers=headers)


async def _open(
    request: web.Request, *, required: tuple[str, ...] = ("model", "max_tokens", "messages")
) -> dict[str, Any] | web.Response:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    if not (request.headers.get("x-api-key", "").strip() or bearer):
        return error_response(401, "x-api-key header is required")
    if "anthropic-version" not in request.headers:
        return error_response(400, "anthropic-version: header is required")
    body = parse_json(await request.read())
    if body is None:
        return error_response(400, "The request body is not valid JSON.")
    for name in required:
        if name not in body:
            return error_response(400, f"{name}: Field required")
    if not isinstance(body["model"], str):
        return error_response(400, "model: Input should be a valid string")
    if "max_tokens" in required and (
        not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool)
    ):
        return error_response(400, "max_tokens: Input should be a valid integer")
    if not isinstance(body["messages"], list) or not body["messages"]:
        return error_response(400, "messages: at least one message is required")
    return body


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _text(content: Any, *, with_tools: bool = False) -> str:
    parts: list[str] = []
    for block in _blocks(content):
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif with_tools and kind == "tool_result":
            parts.append(_text(block.get("content")))
        elif with_tools and kind == "tool_use":
            parts.append(json.dumps(block.get("input", {})))
    return "".join(parts)


def _tool_to_call(body: dict[str, Any]) -> str | None:
    tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict)]
    given = body.get("tool_choice")
    choice: dict[str, Any] = given if isinstance(given, dict) else {"type": "auto"}
    if not tools or choice.get("type") == "none":
        return None
    name = choice.get("name") if choice.get("type") == "tool" else tools[0].get("name")
    return name if isinstance(name, str) else None


def _block_part(block: dict[str, Any], *, with_tools: bool, **where: Any) -> Part:
    shape = {**where, **{k: v for k, v in block.items() if k != "text"}}
    return Part(header(shape), _text([block], with_tools=with_tools), breakpoint_ttl(block))


def prompt_parts(body: dict[str, Any]) -> list[Part]:
    """The prompt in Anthropic's order: tools, system blocks, then each message's role and blocks."""
    tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict)]
    parts = [Part(header({"tool": tool}), "", breakpoint_ttl(tool)) for tool in tools]
    parts.extend(_block_part(block, with_tools=False, at="system") for block in _blocks(body.get("system")))
    blocks = list(range(len(parts)))  # the parts that are blocks (a message's role is not one)
    for message in body["messages"]:
        if isinstance(message, dict):
            parts.append(Part(header({"role": message.get("role")}), ""))
            for block in _blocks(message.get("content")):
                blocks.append(len(parts))
                parts.append(_block_part(block, with_tools=True))
    automatic = breakpoint_ttl(body)  # a top-level cache_control: a breakpoint on the last block
    if automatic is not None and blocks:
        last = parts[blocks[-1]]
        parts[blocks[-1]] = Part(last.header, last.text, last.ttl or automatic)
    return parts


def ttl_order_error(parts: list[Part]) -> str | None:
    """Anthropic's rule: a breakpoint with a longer lifetime may not come after a shorter one."""
    lifetimes = [part.ttl for part in parts if part.ttl is not None]
    if any(later > earlier for earlier, later in itertools.pairwise(lifetimes)):
        return (
            "A cache_control with ttl '1h' must not come after one with the default 5-minute ttl:"
            " longer lifetimes go first (tools, then system, then messages)."
        )
    return None


def _conversation(body: dict[str, Any], parts: list[Part]) -> Conversation:
    messages = [message for message in body["messages"] if isinstance(message, dict)]
    prompt = "".join(part.text for part in parts)
    users = [message for message in messages if message.get("role") == "user"]
    last = users[-1].get("content") if users else ""
    results = [_text(block.get("content")) for block in _blocks(last) if block.get("type") == "tool_result"]
    return Conversation(
        prompt_text=prompt,
        last_user_text=_text(last),
        tool_result="\n".join(results) if results else None,
        tool_to_call=_tool_to_call(body),
    )


@dataclass(frozen=True)
class _Reply:
    id: str
    model: str
    answer: Answer
    behaviour: Behaviour
    tool_use_id: str
    cache: CacheUsage

    @property
    def stop_reason(self) -> str:
        if self.answer.tool_name is not None:
            return "tool_use"
        return "max_tokens" if self.answer.truncated else "end_turn"

    def input_usage(self) -> dict[str, int]:
        cache = self.cache
        cached = cache.read + cache.written if cache.within_prompt else 0
        return {
            "input_tokens": self.answer.prompt_tokens - cached,
            "cache_creation_input_tokens": cache.written,
            "cache_read_input_tokens": cache.read,
        }

    def usage(self, output_tokens: int) -> dict[str, Any]:
        creation = {
            "ephemeral_5m_input_tokens": self.cache.written_5m,
            "ephemeral_1h_input_tokens": self.cache.written_1h,
        }
        return {
            **self.input_usage(),
            "output_tokens": output_tokens,
            "cache_creation": creation,
            "service_tier": "standard",
        }

    def block(self, complete: bool) -> dict[str, Any]:
        if self.answer.tool_name is None:
            return {"type": "text", "text": self.answer.text if complete else ""}
        tool_input = self.answer.tool_input if complete else {}
        return {
            "type": "tool_use",
            "id": self.tool_use_id,
            "name": self.answer.tool_name,
            "input": tool_input,
        }

    def message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": f"{self.model}-{self.behaviour.model_version}",  # a dated id, as Anthropic answers
            "content": [self.block(complete=True)],
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage(self.answer.completion_tokens),
        }

    def script(self) -> Script:
        start = {**self.message(), "content": [], "stop_reason": None, "usage": self.usage(1)}
        head = [
            _event("message_start", {"message": start}),
            _event("content_block_start", {"index": 0, "content_block": self.block(complete=False)}),
            _event("ping", {}),
        ]
        if self.answer.tool_name is None:
            deltas = [{"type": "text_delta", "text": piece} for piece in self._pieces(self.answer.text or "")]
        else:
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in self._pieces(self.answer.arguments)
            ]
        body = [_event("content_block_delta", {"index": 0, "delta": delta}) for delta in deltas]
        ending = {"stop_reason": self.stop_reason, "stop_sequence": None}
        tail = [
            _event("content_block_stop", {"index": 0}),
            _event(
                "message_delta",
                {
                    "delta": ending,
                    "usage": {**self.input_usage(), "output_tokens": self.answer.completion_tokens},
                },
            ),
            _event("message_stop", {}),
        ]
        return Script(head, body, tail, _event("error", error_body(529)))

    def _pieces(self, text: str) -> list[str]:
        return split_reply(text, self.behaviour.chunks)


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()


async def messages(request: web.Request) -> web.StreamResponse:
    body = await _open(request)
    if isinstance(body, web.Response):
        return body
    parts = prompt_parts(body)
    breakpoints = sum(part.ttl is not None for part in parts)
    if breakpoints > MAX_BREAKPOINTS:
        return error_response(
            400,
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}.",
        )
    if (ordering := ttl_order_error(parts)) is not None:
        return error_response(400, ordering)
    stage = request.app[STAGE]
    admitted = await stage.admit(body["model"])
    behaviour = admitted.behaviour
    if admitted.failure is not None:
        return error_response(admitted.failure)
    reply = _Reply(
        id=f"msg_{uuid.uuid4().hex[:24]}",
        model=body["model"],
        answer=answer(_conversation(body, parts), behaviour, body["max_tokens"]),
        behaviour=behaviour,
        tool_use_id=f"toolu_{uuid.uuid4().hex[:24]}",
        cache=stage.breakpoint_cache(body["model"], admitted, parts),
    )
    if body.get("stream") is True:
        return await play(request, behaviour, reply.script())
    return web.json_response(reply.message())


async def count_tokens(request: web.Request) -> web.Response:
    """``/v1/messages/count_tokens``: the prompt's tokens as the Messages endpoint would count them."""
    body = await _open(request, required=("model", "messages"))
    if isinstance(body, web.Response):
        return body
    prompt = "".join(part.text for part in prompt_parts(body))
    return web.json_response({"input_tokens": tokens_of(prompt)})
