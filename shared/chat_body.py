"""Checks on a chat completion body, so bad input is a 400 naming the field, never a 5xx."""

from collections.abc import Callable
from typing import Any, Final

from shared.errors import InvalidBody

ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Only a model's own turns may come without content (an assistant turn that only calls tools).
CONTENT_OPTIONAL: Final = frozenset({"assistant", "function"})
TOOL_TYPES: Final = frozenset({"function", "custom"})
MAX_N: Final = 8


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _invalid(message: str, param: str, code: str = "invalid_type") -> InvalidBody:
    return InvalidBody(message, code, param)


def validate_chat_body(body: Any) -> dict[str, Any]:
    """The body itself when it is a chat completion request Prism can carry, else ``InvalidBody``."""
    if not isinstance(body, dict):
        raise InvalidBody("The request body must be a JSON object.", "invalid_body")
    model = body.get("model", "auto")
    if not isinstance(model, str) or not model:
        raise _invalid("'model' must be a non-empty string.", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' must be a non-empty array.", "messages")
    for index, message in enumerate(messages):
        _check_message(message, f"messages[{index}]")
    _check(body, "stream", lambda v: isinstance(v, bool), "a boolean")
    _check(body, "stream_options", lambda v: isinstance(v, dict), "an object")
    options = body.get("stream_options")
    if isinstance(options, dict):
        _check(options, "include_usage", lambda v: isinstance(v, bool), "a boolean", "stream_options.")
    for name in ("max_tokens", "max_completion_tokens"):
        _check(body, name, lambda v: _is_int(v) and v > 0, "a positive integer")
    _check(body, "n", lambda v: _is_int(v) and 1 <= v <= MAX_N, f"an integer from 1 to {MAX_N}")
    _check(body, "temperature", lambda v: _is_number(v) and 0 <= v <= 2, "a number from 0 to 2")
    _check(body, "top_p", lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1")
    _check(body, "tools", lambda v: isinstance(v, list), "an array of tools")
    for index, tool in enumerate(body.get("tools") or ()):
        _check_tool(tool, f"tools[{index}]")
    _check(
        body,
        "stop",
        lambda v: (
            isinstance(v, str)
            or (isinstance(v, list) and 1 <= len(v) <= 4 and all(isinstance(s, str) for s in v))
        ),
        "a string or an array of 1 to 4 strings",
    )
    _check(
        body,
        "response_format",
        lambda v: isinstance(v, dict) and isinstance(v.get("type"), str),
        "an object with a 'type'",
    )
    return body


def _check_message(message: Any, param: str) -> None:
    if not isinstance(message, dict):
        raise _invalid(f"'{param}' must be an object.", param)
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise _invalid(
            f"'{param}.role' must be one of {', '.join(sorted(ROLES))}.", f"{param}.role", "invalid_value"
        )
    content = message.get("content")
    if content is None and role not in CONTENT_OPTIONAL:
        raise _invalid(f"'{param}.content' is required in a {role} message.", f"{param}.content")
    if content is not None and not isinstance(content, (str, list)):
        raise _invalid(f"'{param}.content' must be a string or an array of parts.", f"{param}.content")
    if isinstance(content, list) and not content:
        raise _invalid(f"'{param}.content' must not be an empty array.", f"{param}.content", "invalid_value")
    if isinstance(content, list) and not all(
        isinstance(part, dict) and isinstance(part.get("type"), str) for part in content
    ):
        raise _invalid(f"'{param}.content' parts must be objects with a 'type'.", f"{param}.content")


def _check_tool(tool: Any, param: str) -> None:
    if not isinstance(tool, dict):
        raise _invalid(f"'{param}' must be an object.", param)
    kind = tool.get("type")
    if not isinstance(kind, str) or kind not in TOOL_TYPES:
        raise _invalid(
            f"'{param}.type' must be one of {', '.join(sorted(TOOL_TYPES))}.",
            f"{param}.type",
            "invalid_value",
        )
    if kind == "function":
        function = tool.get("function")
        if not isinstance(function, dict):
            raise _invalid(f"'{param}.function' must be an object.", f"{param}.function")
        if not isinstance(function.get("name"), str):
            raise _invalid(f"'{param}.function.name' must be a string.", f"{param}.function.name")


def _check(
    body: dict[str, Any], name: str, ok: Callable[[Any], bool], expected: str, prefix: str = ""
) -> None:
    if name in body and body[name] is not None and not ok(body[name]):
        raise _invalid(f"'{prefix}{name}' must be {expected}.", prefix + name)
