"""An Anthropic Messages request in OpenAI chat terms.

The gateway's controls (classification, policy, budgets' estimate, the PII guard) read a chat body,
and a model behind an OpenAI-compatible provider is sent one. ``strict`` is for the latter: what
chat completions cannot carry is refused (``RequestFieldError``). Otherwise such blocks become text,
so the estimate still counts them while the request goes to Anthropic as it came.
"""

import json
from typing import Any

from origin.providers.base import JSON, RequestFieldError

TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(
        block["text"]
        for block in content or ()
        if block.get("type") == "text" and isinstance(block.get("text"), str)
    )


def _image(source: Any, strict: bool) -> JSON | None:
    if isinstance(source, dict) and source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
        return {"type": "image_url", "image_url": {"url": url}}
    if isinstance(source, dict) and source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    if strict:
        raise RequestFieldError("messages", "images must be base64 or url sources")
    return None


def _opaque(block: JSON, strict: bool, param: str = "messages") -> JSON:
    if strict:
        raise RequestFieldError(param, f"content blocks of type {block['type']!r} need an Anthropic model")
    return {"type": "text", "text": json.dumps(block)}


def _user_turns(content: Any, strict: bool) -> list[JSON]:
    """A user turn: its tool results as ``tool`` messages first (OpenAI's order), then the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    results: list[JSON] = []
    parts: list[JSON] = []
    for block in content:
        kind = block["type"]
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text") or "")})
        elif kind == "image":
            image = _image(block.get("source"), strict)
            parts.append(image if image is not None else {"type": "text", "text": json.dumps(block)})
        elif kind == "tool_result":
            result = block.get("content")
            text = result if isinstance(result, str) else _text(result)
            if block.get("is_error"):
                text = f"Error: {text}"
            results.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id")), "content": text})
        else:
            parts.append(_opaque(block, strict))
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _assistant_turn(content: Any, strict: bool) -> JSON:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[JSON] = []
    for block in content:
        kind = block["type"]
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {})
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        elif kind in ("thinking", "redacted_thinking"):
            continue  # the model's own reasoning: no chat model reads it back
        else:
            texts.append(_opaque(block, strict)["text"])
    turn: JSON = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        turn["tool_calls"] = calls
    return turn


def _tools(tools: list[JSON], strict: bool) -> list[JSON]:
    translated = []
    for tool in tools:
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):  # a server tool (web search, bash, …): Anthropic's own
            if strict:
                raise RequestFieldError("tools", f"the tool {tool['name']!r} is an Anthropic server tool")
            schema = {"type": "object", "description": json.dumps(tool)}
        function: JSON = {"name": tool["name"], "parameters": schema}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        translated.append({"type": "function", "function": function})
    return translated


def _tool_choice(choice: JSON) -> tuple[Any, bool | None]:
    parallel = False if choice.get("disable_parallel_tool_use") else None
    if choice["type"] == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}, parallel
    if choice["type"] in TOOL_CHOICES:
        return TOOL_CHOICES[choice["type"]], parallel
    raise RequestFieldError("tool_choice", f"unsupported tool_choice type {choice['type']!r}")


def chat_body(body: JSON, *, strict: bool = False) -> JSON:
    """The chat completion request that asks what the validated Messages ``body`` asks."""
    messages: list[JSON] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text(system)})
    for message in body["messages"]:
        if message["role"] == "user":
            messages.extend(_user_turns(message["content"], strict))
        else:
            messages.append(_assistant_turn(message["content"], strict))
    chat: JSON = {"model": body["model"], "messages": messages}
    if "max_tokens" in body:
        chat["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p", "stream"):
        if name in body:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"], strict)
    if body.get("tool_choice"):
        chat["tool_choice"], parallel = _tool_choice(body["tool_choice"])
        if parallel is not None:
            chat["parallel_tool_calls"] = parallel
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str) and user:
        chat["user"] = user
    return chat
