"""A Responses request in OpenAI chat terms: what every provider adapter is sent.

The conversation is the stored items of the ``previous_response_id`` chain (``history``), then this
request's ``input``; ``instructions`` are this request's only (the API does not carry them over).
What chat completions cannot carry (hosted tools, files) is refused with ``RequestFieldError``
rather than silently dropped when the body is to be sent (``strict``); the controls' view of a
request a provider will get natively leaves it out instead. What needs OpenAI's own store
(background runs, conversations, stored prompts, item references) is refused either way.
"""

import json
from collections.abc import Mapping
from typing import Any, Final

from origin.providers.base import JSON, RequestFieldError

UNSUPPORTED = ("background", "conversation", "prompt")  # server-side features of OpenAI's own store


def input_items(body: JSON) -> list[JSON]:
    """The request's ``input`` as a list of items (a string is one user message)."""
    given = body["input"]
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    return [item if "type" in item else {**item, "type": "message"} for item in given]


_ID_PREFIXES: Final[Mapping[str, str]] = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
}


def listed_item(item: JSON, response_id: str, index: int) -> JSON:
    """An input item as ``GET /v1/responses/{id}/input_items`` lists it, the way OpenAI does: with an
    id (its own, or one derived from the response's and its place, so it is stable across reads), a
    message's text as content parts and a status."""
    listed = {
        "id": item.get("id") or f"{_ID_PREFIXES.get(item['type'], 'item')}_{response_id}_{index}",
        **item,
    }
    if item["type"] == "message":
        part = "output_text" if item.get("role") == "assistant" else "input_text"
        content = item.get("content")
        if isinstance(content, str):
            listed["content"] = [{"type": part, "text": content}]
        listed.setdefault("status", "completed")
    return listed


def _part(part: JSON, param: str, strict: bool) -> JSON | None:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal") or "")}
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        image: JSON = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if not strict:
        return None
    raise RequestFieldError(
        param, f"content parts of type {kind!r} are not supported here (images by URL are)"
    )


def _content(content: Any, param: str, strict: bool) -> Any:
    if isinstance(content, str):
        return content
    parts = [chat for part in content if (chat := _part(part, param, strict)) is not None]
    if all(part["type"] == "text" for part in parts):
        return "".join(part["text"] for part in parts)
    return parts


def _output(output: Any) -> str:
    if isinstance(output, str):
        return output
    return "".join(str(part.get("text") or "") for part in output if part.get("type") == "input_text")


def _messages(items: list[JSON], strict: bool) -> list[JSON]:
    messages: list[JSON] = []
    for index, item in enumerate(items):
        kind, param = item["type"], f"input[{index}]"
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": _content(item["content"], f"{param}.content", strict)})
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            # Calls made in one turn (and the text before them) are one assistant message in chat.
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": _output(item["output"])}
            )
        elif kind == "item_reference":
            raise RequestFieldError(param, "item references need OpenAI's own store: send the item itself")
        # "reasoning" items are the model's own: no chat model reads them back.
    return messages


def _tools(tools: list[JSON], strict: bool) -> list[JSON]:
    translated = []
    for index, tool in enumerate(tools):
        if tool["type"] != "function" and not strict:
            continue
        if tool["type"] != "function":
            raise RequestFieldError(
                f"tools[{index}]", f"hosted tools ({tool['type']!r}) are not supported: declare functions"
            )
        function: JSON = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object"}}
        for name in ("description", "strict"):
            if tool.get(name) is not None:
                function[name] = tool[name]
        translated.append({"type": "function", "function": function})
    return translated


def _tool_choice(choice: Any, strict: bool) -> Any:
    if isinstance(choice, str):
        return choice
    if choice["type"] == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    if not strict:
        return None
    raise RequestFieldError("tool_choice", f"unsupported tool_choice type {choice['type']!r}")


def _response_format(form: JSON) -> JSON | None:
    if form["type"] == "text":
        return None
    if form["type"] == "json_object":
        return {"type": "json_object"}
    schema: JSON = {"name": form["name"], "schema": form["schema"]}
    for name in ("description", "strict"):
        if form.get(name) is not None:
            schema[name] = form[name]
    return {"type": "json_schema", "json_schema": schema}


def chat_body(body: JSON, history: list[JSON], *, strict: bool = True) -> JSON:
    """The chat completion request that asks what the validated Responses ``body`` asks."""
    for name in UNSUPPORTED:
        if body.get(name):
            raise RequestFieldError(name, f"'{name}' is not supported by this gateway")
    messages: list[JSON] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    messages.extend(_messages([*history, *input_items(body)], strict))
    chat: JSON = {"model": body.get("model", "auto"), "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    for name in (
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "prompt_cache_key",
        "safety_identifier",
        "user",
    ):
        if body.get(name) is not None:
            chat[name] = body[name]
    if tools := _tools(body.get("tools") or [], strict):
        chat["tools"] = tools
    if body.get("tool_choice") is not None and (choice := _tool_choice(body["tool_choice"], strict)):
        chat["tool_choice"] = choice
    form = (body.get("text") or {}).get("format")
    if form is not None and (response_format := _response_format(form)) is not None:
        chat["response_format"] = response_format
    return chat


def arguments_text(value: Any) -> str:
    """A function call's arguments as the JSON text the Responses API carries."""
    return value if isinstance(value, str) else json.dumps(value)
