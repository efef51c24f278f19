"""Checks on a Responses body (``POST /v1/responses``), so bad input is a 400 naming the field."""

from collections.abc import Callable
from typing import Any, Final

from shared.errors import InvalidBody

ROLES: Final = frozenset({"user", "assistant", "system", "developer"})
PART_TYPES: Final = frozenset({"input_text", "input_image", "input_file", "output_text", "refusal"})
ITEM_TYPES: Final = frozenset(
    {"message", "function_call", "function_call_output", "reasoning", "item_reference"}
)
TOOL_CHOICES: Final = frozenset({"auto", "none", "required"})
FORMATS: Final = frozenset({"text", "json_object", "json_schema"})
MAX_METADATA: Final = 16


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one_of(value: Any, names: frozenset[str]) -> bool:
    return isinstance(value, str) and value in names


def _invalid(message: str, param: str, code: str = "invalid_type") -> InvalidBody:
    return InvalidBody(message, code, param)


def _check(body: dict[str, Any], name: str, ok: Callable[[Any], bool], what: str, prefix: str = "") -> None:
    if name in body and body[name] is not None and not ok(body[name]):
        raise _invalid(f"'{prefix}{name}' must be {what}.", f"{prefix}{name}")


def validate_responses_body(body: Any) -> dict[str, Any]:
    """The body itself when it is a Responses request Prism can carry, else ``InvalidBody``."""
    if not isinstance(body, dict):
        raise InvalidBody("The request body must be a JSON object.", "invalid_body")
    model = body.get("model", "auto")
    if not isinstance(model, str) or not model:
        raise _invalid("'model' must be a non-empty string.", "model")
    given = body.get("input")
    if isinstance(given, list) and given:
        for index, item in enumerate(given):
            _check_item(item, f"input[{index}]")
    elif not (isinstance(given, str) and given):
        raise _invalid("'input' must be a non-empty string or a non-empty array of input items.", "input")
    _check(body, "instructions", lambda v: isinstance(v, str), "a string")
    for name in ("stream", "store", "parallel_tool_calls", "background"):
        _check(body, name, lambda v: isinstance(v, bool), "a boolean")
    _check(body, "previous_response_id", lambda v: isinstance(v, str) and bool(v), "a response id")
    _check(body, "max_output_tokens", lambda v: _is_int(v) and v > 0, "a positive integer")
    _check(body, "temperature", lambda v: _is_number(v) and 0 <= v <= 2, "a number from 0 to 2")
    _check(body, "top_p", lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1")
    for name in ("user", "safety_identifier", "prompt_cache_key"):
        _check(body, name, lambda v: isinstance(v, str), "a string")
    _check(
        body,
        "metadata",
        lambda v: (
            isinstance(v, dict)
            and len(v) <= MAX_METADATA
            and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
        ),
        f"an object of at most {MAX_METADATA} string values",
    )
    _check(body, "tools", lambda v: isinstance(v, list), "an array of tools")
    for index, tool in enumerate(body.get("tools") or ()):
        _check_tool(tool, f"tools[{index}]")
    _check(
        body,
        "tool_choice",
        lambda v: _one_of(v, TOOL_CHOICES) or (isinstance(v, dict) and isinstance(v.get("type"), str)),
        "'auto', 'none', 'required' or an object with a 'type'",
    )
    _check_text(body.get("text"))
    return body


def _check_item(item: Any, param: str) -> None:
    if not isinstance(item, dict):
        raise _invalid(f"'{param}' must be an object.", param)
    kind = item.get("type", "message")
    if not _one_of(kind, ITEM_TYPES):
        raise _invalid(
            f"'{param}.type' must be one of {', '.join(sorted(ITEM_TYPES))}.",
            f"{param}.type",
            "invalid_value",
        )
    if kind == "message":
        _check_message(item, param)
    elif kind == "function_call":
        for name in ("call_id", "name", "arguments"):
            if not isinstance(item.get(name), str):
                raise _invalid(f"'{param}.{name}' must be a string.", f"{param}.{name}")
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise _invalid(f"'{param}.call_id' must be a string.", f"{param}.call_id")
        output = item.get("output")
        if not (isinstance(output, str) or _parts_ok(output)):
            raise _invalid(
                f"'{param}.output' must be a string or an array of content parts.", f"{param}.output"
            )


def _check_message(item: dict[str, Any], param: str) -> None:
    if not _one_of(item.get("role"), ROLES):
        raise _invalid(
            f"'{param}.role' must be one of {', '.join(sorted(ROLES))}.", f"{param}.role", "invalid_value"
        )
    content = item.get("content")
    if isinstance(content, str) or _parts_ok(content):
        return
    raise _invalid(
        f"'{param}.content' must be a string or an array of parts typed {', '.join(sorted(PART_TYPES))}.",
        f"{param}.content",
    )


def _parts_ok(content: Any) -> bool:
    return isinstance(content, list) and all(
        isinstance(part, dict) and _one_of(part.get("type"), PART_TYPES) for part in content
    )


def _check_tool(tool: Any, param: str) -> None:
    if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
        raise _invalid(f"'{param}' must be an object with a 'type'.", param)
    if tool["type"] == "function" and not (isinstance(tool.get("name"), str) and tool["name"]):
        raise _invalid(f"'{param}.name' must be a non-empty string.", f"{param}.name")
    _check(tool, "parameters", lambda v: isinstance(v, dict), "an object", f"{param}.")


def _check_text(text: Any) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise _invalid("'text' must be an object.", "text")
    form = text.get("format")
    if form is None:
        return
    if not isinstance(form, dict) or not _one_of(form.get("type"), FORMATS):
        raise _invalid(
            f"'text.format.type' must be one of {', '.join(sorted(FORMATS))}.",
            "text.format.type",
            "invalid_value",
        )
    if form["type"] == "json_schema":
        if not (isinstance(form.get("name"), str) and form["name"]):
            raise _invalid("'text.format.name' must be a non-empty string.", "text.format.name")
        if not isinstance(form.get("schema"), dict):
            raise _invalid("'text.format.schema' must be an object.", "text.format.schema")
