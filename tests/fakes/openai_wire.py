"""The OpenAI wire: ``/v1/chat/completions`` (JSON and SSE), ``/v1/embeddings`` and ``/v1/models``
(``/v1/responses`` is ``tests.fakes.responses_wire``)."""

import base64
import hashlib
import json
import math
import re
import struct
import time
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
    count_tokens,
    parse_json,
    play,
    split_reply,
)
from tests.fakes.prompt_cache import CacheUsage, Part, header

EMBEDDING_DIMENSIONS: Final = 64
MAX_DIMENSIONS: Final = 3072  # text-embedding-3-large's
DEFAULT_MODELS: Final = ("fake-gpt", "fake-embed")
SYSTEM_FINGERPRINT: Final = "fp_fake"

_ERRORS: Final[dict[int, tuple[str, str | None, str]]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error_body(status: int, message: str | None = None, param: str | None = None) -> dict[str, Any]:
    kind, code, default = _ERRORS.get(status, ("server_error", None, f"Upstream error {status}."))
    return {"error": {"message": message or default, "type": kind, "param": param, "code": code}}


def error_response(status: int, message: str | None = None, param: str | None = None) -> web.Response:
    headers = {"Retry-After": "1"} if status == 429 else {}
    return web.json_response(error_body(status, message, param), status=status, headers=headers)


def unauthorised(request: web.Request) -> web.Response | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return None
    return error_response(401, "You didn't provide a valid API key (Authorization: Bearer <key>).")


async def _open(request: web.Request, required: tuple[str, ...]) -> dict[str, Any] | web.Response:
    if (rejection := unauthorised(request)) is not None:
        return rejection
    body = parse_json(await request.read())
    if body is None:
        return error_response(400, "We could not parse the JSON body of your request.")
    for name in required:
        if name not in body:
            return error_response(400, f"Missing required parameter: '{name}'.", param=name)
    if not isinstance(body["model"], str):
        return error_response(400, "'model' must be a string.", param="model")
    return body


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _tool_to_call(body: dict[str, Any]) -> str | None:
    tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict)]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    named = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    name = named or tools[0].get("function", {}).get("name")
    return name if isinstance(name, str) else None


def _content_parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [Part(header({"type": "text"}), content)]
    if not isinstance(content, list):
        return []
    return [
        Part(header({k: v for k, v in block.items() if k != "text"}), _text([block]))
        for block in content
        if isinstance(block, dict)
    ]


def _call_part(call: dict[str, Any]) -> Part:
    given = call.get("function")
    function: dict[str, Any] = given if isinstance(given, dict) else {}
    shape = {**call, "function": {k: v for k, v in function.items() if k != "arguments"}}
    return Part(header(shape), str(function.get("arguments", "")))


def prompt_parts(messages: list[dict[str, Any]], body: dict[str, Any]) -> list[Part]:
    """The prompt in OpenAI's order: tools, then each message's fields, content and tool calls."""
    parts = [Part(header({"tool": tool}), "") for tool in body.get("tools") or []]
    for message in messages:
        fields = {k: v for k, v in message.items() if k not in ("content", "tool_calls")}
        parts.append(Part(header(fields), ""))
        parts.extend(_content_parts(message.get("content")))
        parts.extend(_call_part(call) for call in message.get("tool_calls") or [] if isinstance(call, dict))
    return parts


def conversation(messages: list[dict[str, Any]], body: dict[str, Any], parts: list[Part]) -> Conversation:
    users = [message for message in messages if message.get("role") == "user"]
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, _text(message.get("content")))
    return Conversation(
        prompt_text="".join(part.text for part in parts),
        last_user_text=_text(users[-1].get("content")) if users else "",
        tool_result="\n".join(results) if results else None,
        tool_to_call=_tool_to_call(body),
    )


def _limit(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


@dataclass(frozen=True)
class _Reply:
    id: str
    created: int
    model: str
    n: int
    answer: Answer
    behaviour: Behaviour
    call_ids: list[str]
    include_usage: bool
    cache: CacheUsage

    @property
    def finish_reason(self) -> str:
        if self.answer.tool_name is not None:
            return "tool_calls"
        return "length" if self.answer.truncated else "stop"

    def usage(self) -> dict[str, Any]:
        cached = self.cache.read
        prompt = self.answer.prompt_tokens + (0 if self.cache.within_prompt else cached + self.cache.written)
        completion = self.answer.completion_tokens * self.n
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def message(self, index: int) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.answer.text,
            "refusal": None,
            "annotations": [],
        }
        if self.answer.tool_name is not None:
            message["tool_calls"] = [self._call(index, self.answer.arguments)]
        return message

    def completion(self) -> dict[str, Any]:
        choices = [
            {"index": i, "message": self.message(i), "logprobs": None, "finish_reason": self.finish_reason}
            for i in range(self.n)
        ]
        return {**self._envelope("chat.completion"), "choices": choices, "usage": self.usage()}

    def script(self) -> Script:
        n, chunks = self.n, self.behaviour.chunks
        if self.answer.tool_name is None:
            head = self._frame([{"role": "assistant", "content": "", "refusal": None}] * n)
            body = [
                self._frame([{"content": piece}] * n) for piece in split_reply(self.answer.text or "", chunks)
            ]
        else:
            calls = [{"index": 0, **self._call(i, arguments="")} for i in range(n)]
            head = self._frame(
                [{"role": "assistant", "content": None, "tool_calls": [call]} for call in calls]
            )
            body = [
                self._frame([{"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}] * n)
                for piece in split_reply(self.answer.arguments, chunks)
            ]
        tail = [self._frame([{}] * n, self.finish_reason)]
        if self.include_usage:
            tail.append(self._chunk([], self.usage()))
        tail.append(b"data: [DONE]\n\n")
        return Script([head], body, tail, _sse(error_body(500)))

    def _call(self, index: int, arguments: str) -> dict[str, Any]:
        function = {"name": self.answer.tool_name, "arguments": arguments}
        return {"id": self.call_ids[index], "type": "function", "function": function}

    def _frame(self, deltas: list[dict[str, Any]], finish_reason: str | None = None) -> bytes:
        return b"".join(
            self._chunk([{"index": i, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])
            for i, delta in enumerate(deltas)
        )

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        payload = {**self._envelope("chat.completion.chunk"), "choices": choices}
        if self.include_usage:
            payload["usage"] = usage
        return _sse(payload)

    def _envelope(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": f"{SYSTEM_FINGERPRINT}_{self.behaviour.model_version}",
        }


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await _open(request, ("model", "messages"))
    if isinstance(body, web.Response):
        return body
    if not isinstance(body["messages"], list) or not body["messages"]:
        return error_response(400, "'messages' must be a non-empty array.", param="messages")
    stage = request.app[STAGE]
    admitted = await stage.admit(body["model"])
    behaviour = admitted.behaviour
    if admitted.failure is not None:
        return error_response(admitted.failure)
    messages = [message for message in body["messages"] if isinstance(message, dict)]
    parts = prompt_parts(messages, body)
    given_key = body.get("prompt_cache_key")
    routing_key = given_key if isinstance(given_key, str) else None
    given_n = body.get("n")
    n = max(1, given_n) if isinstance(given_n, int) else 1
    options = body.get("stream_options")
    reply = _Reply(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=body["model"],
        n=n,
        answer=answer(conversation(messages, body, parts), behaviour, _limit(body)),
        behaviour=behaviour,
        call_ids=[f"call_{uuid.uuid4().hex[:24]}" for _ in range(n)],
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        cache=stage.automatic_cache(body["model"], admitted, parts, routing_key),
    )
    if body.get("stream") is True:
        return await play(request, behaviour, reply.script())
    return web.json_response(reply.completion())


def embed(text: str) -> list[float]:
    """A normalised bag of words: each lowercase word hashed into one of 64 buckets."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest, "big") % EMBEDDING_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector


def _token_ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, int) for item in value)


def _shortened(vector: list[float], dimensions: int) -> list[float]:
    """The first ``dimensions`` values, normalised again, as OpenAI's ``dimensions`` does (past the
    fake's own length, zeros)."""
    head = vector[:dimensions] + [0.0] * max(0, dimensions - len(vector))
    norm = math.sqrt(sum(value * value for value in head))
    return [value / norm for value in head] if norm else head


def _encoded(vector: list[float], as_base64: bool) -> list[float] | str:
    if not as_base64:
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


async def embeddings(request: web.Request) -> web.StreamResponse:
    body = await _open(request, ("model", "input"))
    if isinstance(body, web.Response):
        return body
    given = body["input"]
    inputs = [given] if isinstance(given, str) or (isinstance(given, list) and _token_ids(given)) else given
    if (
        not isinstance(inputs, list)
        or not inputs
        or not all(isinstance(text, str) or _token_ids(text) for text in inputs)
    ):
        return error_response(
            400, "'input' must be a string or an array of strings or token arrays.", param="input"
        )
    dimensions = body.get("dimensions", EMBEDDING_DIMENSIONS)
    if not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        return error_response(400, f"'dimensions' must be from 1 to {MAX_DIMENSIONS}.", param="dimensions")
    failure = (await request.app[STAGE].admit(body["model"])).failure
    if failure is not None:
        return error_response(failure)
    as_base64 = body.get("encoding_format") == "base64"
    texts = [text if isinstance(text, str) else " ".join(map(str, text)) for text in inputs]
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": _encoded(_shortened(embed(text), dimensions), as_base64),
        }
        for i, text in enumerate(texts)
    ]
    tokens = sum(count_tokens(text) if isinstance(text, str) else len(text) for text in inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return web.json_response({"object": "list", "data": data, "model": body["model"], "usage": usage})


async def models(request: web.Request) -> web.StreamResponse:
    if (rejection := unauthorised(request)) is not None:
        return rejection
    names = dict.fromkeys([*DEFAULT_MODELS, *request.app[STAGE].configured_models()])
    data = [
        {"id": name, "object": "model", "created": 1700000000, "owned_by": "fake-provider"} for name in names
    ]
    return web.json_response({"object": "list", "data": data})
