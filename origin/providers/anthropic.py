"""Anthropic's Messages API, translated to and from OpenAI chat completions."""

import json
import time
import uuid
from typing import Any, Final

from origin.providers.base import (
    JSON,
    RETRYABLE_STATUSES,
    ModelConfig,
    NoEmbeddings,
    ProviderConfig,
    SSEEvent,
    UpstreamRequest,
    UpstreamStreamError,
    Usage,
)

ANTHROPIC_VERSION = "2023-06-01"
OVERLOADED: Final = 529
DEFAULT_MAX_TOKENS = 4096
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
TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none"}


def _text(content: Any, role: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise ValueError(f"{role} message content must be a string or a list of text parts")
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ValueError(f"{role} message content parts must be text")
        texts.append(part["text"])
    return "\n\n".join(text for text in texts if text)


def _image(image_url: Any) -> JSON:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise ValueError("image_url part without a url")
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    if url.startswith("data:"):
        header, comma, data = url.removeprefix("data:").partition(",")
        media_type, *params = header.split(";")
        if comma and media_type and params and params[-1] == "base64":
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    raise ValueError("image urls must be http(s) or data:<mime>;base64,<data>")


def _blocks(content: Any) -> list[JSON]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise ValueError("message content must be a string or a list of parts")
    blocks = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise ValueError("text part without text")
            if part["text"]:
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url")))
        else:
            raise ValueError(f"unsupported content part type {kind!r}")
    return blocks


def _tool_use(call: Any) -> JSON:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise ValueError("each tool call needs a function name")
    if not isinstance(call.get("id"), str):
        raise ValueError("each tool call needs an id")
    name = function["name"]
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"arguments of tool call {name!r} are not valid JSON") from error
    if not isinstance(arguments, dict):
        raise ValueError(f"arguments of tool call {name!r} must be a JSON object")
    return {"type": "tool_use", "id": call["id"], "name": name, "input": arguments}


def _tool_result(message: JSON) -> JSON:
    if not isinstance(message.get("tool_call_id"), str):
        raise ValueError("tool messages need a tool_call_id")
    content = message.get("content")
    result = content if content is None or isinstance(content, str) else _blocks(content)
    return {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": result or ""}


def _turn(message: Any) -> tuple[str, list[JSON]]:
    if not isinstance(message, dict):
        raise ValueError("each message must be an object")
    role = message.get("role")
    if role == "user":
        return "user", _blocks(message.get("content"))
    if role == "assistant":
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list):
            raise ValueError("tool_calls must be a list")
        return "assistant", _blocks(message.get("content")) + [_tool_use(call) for call in calls]
    if role == "tool":
        return "user", [_tool_result(message)]
    raise ValueError(f"unsupported message role {role!r}")


def _messages(messages: Any) -> tuple[str, list[JSON]]:
    """The system prompt and the turns, merged so that roles alternate as Anthropic requires."""
    if not isinstance(messages, list):
        raise ValueError("messages must be a list")
    system: list[str] = []
    turns: list[JSON] = []
    for message in messages:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            system.append(_text(message.get("content"), message["role"]))
            continue
        role, blocks = _turn(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise ValueError("messages must include a user or assistant message with content")
    for turn in turns:
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return "\n\n".join(text for text in system if text), turns


def _tools(tools: Any) -> list[JSON]:
    if not isinstance(tools, list):
        raise ValueError("tools must be a list")
    translated = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ValueError("only function tools with a name are supported")
        entry: JSON = {"name": function["name"]}
        if function.get("description"):
            entry["description"] = function["description"]
        entry["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
        translated.append(entry)
    return translated


def _tool_choice(choice: Any, parallel: Any) -> JSON | None:
    translated: JSON | None
    if choice is None:
        translated = {"type": "auto"} if parallel is False else None
    elif isinstance(choice, str) and choice in TOOL_CHOICES:
        translated = {"type": TOOL_CHOICES[choice]}
    elif (
        isinstance(choice, dict)
        and choice.get("type") == "function"
        and isinstance(choice.get("function"), dict)
        and isinstance(choice["function"].get("name"), str)
    ):
        translated = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise ValueError(f"unsupported tool_choice {choice!r}")
    if translated and parallel is False and translated["type"] != "none":
        translated["disable_parallel_tool_use"] = True
    return translated


def _stop_sequences(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        return list(stop)
    raise ValueError("stop must be a string or a list of strings")


def _max_tokens(body: JSON) -> int:
    value = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("max_tokens must be a positive integer")
    return value


def usage_from_anthropic(data: Any) -> Usage:
    """Anthropic's ``input_tokens`` leaves out cache reads and writes; ``Usage.tokens_in`` counts them."""
    if not isinstance(data, dict):
        return Usage()
    read = int(data.get("cache_read_input_tokens") or 0)
    write = int(data.get("cache_creation_input_tokens") or 0)
    return Usage(
        tokens_in=int(data.get("input_tokens") or 0) + read + write,
        tokens_out=int(data.get("output_tokens") or 0),
        tokens_cached_in=read,
        tokens_cache_write=write,
    )


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _error_text(data: Any) -> str | None:
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
        self._tool_indexes: dict[Any, int] = {}

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
                return [self._chunk({}, finish_reason(stop_reason))]
            case "message_stop":
                self.finished = True
            case "error":
                raise UpstreamStreamError(_error_text(payload) or "upstream reported a stream error")
        return []

    def _block_start(self, index: Any, block: Any) -> list[JSON]:
        if not isinstance(block, dict):
            return []
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
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
            and index in self._tool_indexes
        ):
            call = {"index": self._tool_indexes[index], "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _count(self, usage: Any) -> None:
        """Stream counts are cumulative, so a later event never lowers one."""
        if not isinstance(usage, dict):
            return
        for key in USAGE_FIELDS:
            if isinstance(usage.get(key), int):
                self._counts[key] = max(self._counts.get(key, 0), usage[key])
        self.usage = usage_from_anthropic(self._counts)

    def _chunk(self, delta: JSON, reason: str | None = None) -> JSON:
        return {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model.name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}],
        }


class AnthropicAdapter:
    retryable_statuses: Final = RETRYABLE_STATUSES | {OVERLOADED}

    def chat_request(self, body: JSON, model: ModelConfig, provider: ProviderConfig) -> UpstreamRequest:
        if body.get("n") not in (None, 1):
            raise ValueError("Anthropic models return one choice; n must be 1")
        system, messages = _messages(body.get("messages"))
        upstream: JSON = {
            "model": model.upstream_model,
            "messages": messages,
            "max_tokens": _max_tokens(body),
        }
        if system:
            upstream["system"] = system
        if body.get("tools"):
            upstream["tools"] = _tools(body["tools"])
            choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
            if choice:
                upstream["tool_choice"] = choice
        for field in ("temperature", "top_p", "stream"):
            if body.get(field) is not None:
                upstream[field] = body[field]
        if body.get("stop"):
            upstream["stop_sequences"] = _stop_sequences(body["stop"])
        if isinstance(body.get("user"), str) and body["user"]:
            upstream["metadata"] = {"user_id": body["user"]}
        headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            **provider.headers,
        }
        if provider.api_key:
            headers["x-api-key"] = provider.api_key
        return UpstreamRequest(path="/v1/messages", headers=headers, body=upstream)

    def chat_response(self, data: JSON, model: ModelConfig) -> tuple[JSON, Usage]:
        blocks = [block for block in data.get("content") or [] if isinstance(block, dict)]
        texts = [block["text"] for block in blocks if block.get("type") == "text" and "text" in block]
        calls = [
            {
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": json.dumps(block.get("input") or {})},
            }
            for block in blocks
            if block.get("type") == "tool_use"
        ]
        message: JSON = {"role": "assistant", "content": "".join(texts) if texts else None}
        if calls:
            message["tool_calls"] = calls
        usage = usage_from_anthropic(data.get("usage"))
        completion = {
            "id": f"chatcmpl-{data.get('id') or uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model.name,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason(data.get("stop_reason")),
                    "logprobs": None,
                }
            ],
            "usage": usage.openai_usage(),
        }
        return completion, usage

    def stream_translator(
        self, model: ModelConfig, completion_id: str, created: int
    ) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator(model, completion_id, created)

    def embeddings_request(
        self, text: str, model: str, provider: ProviderConfig, *, dimensions: int | None = None
    ) -> UpstreamRequest:
        raise NoEmbeddings(
            f"provider {provider.name!r} is of kind 'anthropic': Anthropic has no embeddings API"
            " (no embeddings endpoint); point [semantic] at an OpenAI-compatible provider"
        )

    def embeddings_response(self, data: JSON) -> list[float]:
        raise NoEmbeddings("Anthropic has no embeddings API")

    def error_message(self, status: int, data: Any) -> str:
        return _error_text(data) or f"upstream answered HTTP {status}"
