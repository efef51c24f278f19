"""Anthropic's Messages API, translated to and from OpenAI chat completions."""

import json
import time
import uuid
from typing import Any, Final

from origin.providers.anthropic_answer import (
    REFUSAL,
    AnthropicStreamTranslator,
    error_text,
    finish_reason,
    is_answer_block,
    usage_from_anthropic,
)
from origin.providers.anthropic_cache import with_breakpoints
from origin.providers.anthropic_fields import (
    RESPONSE_TOOL,
    check_fields,
    max_tokens_of,
    require_one_choice,
    response_tool,
    sampling_fields,
    unsupported,
    wrong_type,
)
from origin.providers.base import (
    JSON,
    RETRYABLE_STATUSES,
    ModelConfig,
    NoEmbeddings,
    ProviderConfig,
    RequestFieldError,
    UpstreamRequest,
    Usage,
)

ANTHROPIC_VERSION = "2023-06-01"
OVERLOADED: Final = 529
DEFAULT_MAX_TOKENS = 4096
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
        raise wrong_type("tools", "an array of tools")
    translated = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise unsupported("tools", "only function tools with a name are supported")
        if function["name"] == RESPONSE_TOOL:
            raise unsupported("tools", f"the tool name {RESPONSE_TOOL!r} is reserved")
        description, parameters = function.get("description"), function.get("parameters")
        if description is not None and not isinstance(description, str):
            raise wrong_type("tools", "function tools whose description is a string")
        if parameters is not None and not isinstance(parameters, dict):
            raise wrong_type("tools", "function tools whose parameters are an object")
        entry: JSON = {"name": function["name"]}
        if description:
            entry["description"] = description
        entry["input_schema"] = parameters or {"type": "object", "properties": {}}
        translated.append(entry)
    return translated


def _tool_choice(choice: Any, parallel: Any) -> JSON | None:
    if parallel is not None and not isinstance(parallel, bool):
        raise wrong_type("parallel_tool_calls", "a boolean")
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
        raise RequestFieldError("tool_choice", f"unsupported tool_choice {choice!r}")
    if translated and parallel is False and translated["type"] != "none":
        translated["disable_parallel_tool_use"] = True
    return translated


def _stop_sequences(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        return list(stop)
    raise wrong_type("stop", "a string or a list of strings")


def _tool_fields(body: JSON) -> JSON:
    """``tools``/``tool_choice``/``parallel_tool_calls``, or the forced tool of ``response_format``."""
    tools = _tools(body["tools"]) if body.get("tools") is not None else []
    answer_tool = response_tool(body.get("response_format"), has_tools=bool(tools))
    if answer_tool is not None:
        return {"tools": [answer_tool], "tool_choice": {"type": "tool", "name": RESPONSE_TOOL}}
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if not tools:
        if choice is not None and choice["type"] not in ("auto", "none"):
            raise unsupported("tool_choice", "a tool choice needs tools")
        return {}
    return {"tools": tools, "tool_choice": choice} if choice else {"tools": tools}


def messages_request(
    body: JSON,
    model: ModelConfig,
    provider: ProviderConfig,
    *,
    version: str | None = None,
    beta: str | None = None,
    path: str = "/v1/messages",
) -> UpstreamRequest:
    """A Messages request sent as the client wrote it (so its ``cache_control`` blocks still pay),
    the model resolved; the client's ``anthropic-version`` and ``anthropic-beta`` go with it.
    ``path`` is ``/v1/messages/count_tokens`` to count the same request's tokens."""
    headers = _headers(provider, version)
    if beta:
        headers["anthropic-beta"] = beta
    return UpstreamRequest(path=path, headers=headers, body={**body, "model": model.upstream_model})


def _headers(provider: ProviderConfig, version: str | None = None) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "anthropic-version": version or ANTHROPIC_VERSION,
        **provider.headers,
    }
    if provider.api_key:
        headers["x-api-key"] = provider.api_key
    return headers


class AnthropicAdapter:
    retryable_statuses: Final = RETRYABLE_STATUSES | {OVERLOADED}

    def chat_request(
        self, body: JSON, model: ModelConfig, provider: ProviderConfig, *, cache_breakpoints: bool = False
    ) -> UpstreamRequest:
        check_fields(body)
        require_one_choice(body)
        system, messages = _messages(body.get("messages"))
        upstream: JSON = {
            "model": model.upstream_model,
            "messages": messages,
            "max_tokens": max_tokens_of(body, DEFAULT_MAX_TOKENS),
        }
        if system:
            upstream["system"] = system
        upstream.update(_tool_fields(body))
        upstream.update(sampling_fields(body))
        if body.get("stop"):
            upstream["stop_sequences"] = _stop_sequences(body["stop"])
        if cache_breakpoints:
            upstream = with_breakpoints(upstream)
        return UpstreamRequest(path="/v1/messages", headers=_headers(provider), body=upstream)

    def chat_response(self, data: JSON, model: ModelConfig) -> tuple[JSON, Usage]:
        blocks = [block for block in data.get("content") or [] if isinstance(block, dict)]
        texts = [block["text"] for block in blocks if block.get("type") == "text" and "text" in block]
        answers = [block for block in blocks if is_answer_block(block)]
        if answers:
            texts = [json.dumps(answers[0].get("input") or {})]
        calls = [
            {
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": json.dumps(block.get("input") or {})},
            }
            for block in blocks
            if block.get("type") == "tool_use" and not is_answer_block(block)
        ]
        stop_reason = data.get("stop_reason")
        message: JSON = {
            "role": "assistant",
            "content": "".join(texts) if texts else None,
            "refusal": REFUSAL if stop_reason == "refusal" else None,
        }
        if calls:
            message["tool_calls"] = calls
        usage = usage_from_anthropic(data.get("usage"))
        usage.model_version = data["model"] if isinstance(data.get("model"), str) else None
        completion = {
            "id": f"chatcmpl-{data.get('id') or uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model.name,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason(stop_reason, answered=bool(answers)),
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
        self,
        text: str | list[Any],
        model: str,
        provider: ProviderConfig,
        *,
        dimensions: int | None = None,
        encoding_format: str = "float",
    ) -> UpstreamRequest:
        raise NoEmbeddings(
            f"provider {provider.name!r} is of kind 'anthropic': Anthropic has no embeddings API"
            " (no embeddings endpoint); point [semantic] at an OpenAI-compatible provider"
        )

    def embeddings_response(self, data: JSON) -> list[float]:
        raise NoEmbeddings("Anthropic has no embeddings API")

    def error_message(self, status: int, data: Any) -> str:
        return error_text(data) or f"upstream answered HTTP {status}"
