"""Checks on a chat completion body, so bad input is a 400 naming the field, never a 5xx."""

from typing import Any, Final

from origin.http.errors import invalid_request

ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_N: Final = 8


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_chat_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.", code="invalid_body")
    model = body.get("model", "auto")
    if not isinstance(model, str) or not model:
        raise invalid_request("'model' must be a non-empty string.", code="invalid_type", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("'messages' must be a non-empty array.", code="invalid_type", param="messages")
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise invalid_request(f"'{param}' must be an object.", code="invalid_type", param=param)
        if message.get("role") not in ROLES:
            raise invalid_request(
                f"'{param}.role' must be one of {', '.join(sorted(ROLES))}.",
                code="invalid_value",
                param=f"{param}.role",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise invalid_request(
                f"'{param}.content' must be a string or an array of parts.",
                code="invalid_type",
                param=f"{param}.content",
            )
    _check(body, "stream", lambda v: isinstance(v, bool), "a boolean")
    _check(body, "stream_options", lambda v: isinstance(v, dict), "an object")
    for name in ("max_tokens", "max_completion_tokens"):
        _check(body, name, lambda v: _is_int(v) and v > 0, "a positive integer")
    _check(body, "n", lambda v: _is_int(v) and 1 <= v <= MAX_N, f"an integer from 1 to {MAX_N}")
    _check(body, "temperature", lambda v: _is_number(v) and 0 <= v <= 2, "a number from 0 to 2")
    _check(body, "top_p", lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1")
    _check(
        body,
        "tools",
        lambda v: isinstance(v, list) and all(isinstance(t, dict) for t in v),
        "an array of tools",
    )
    _check(
        body,
        "stop",
        lambda v: isinstance(v, str) or (isinstance(v, list) and len(v) <= 4),
        "a string or up to 4",
    )
    return body


def _check(body: dict[str, Any], name: str, ok: Any, expected: str) -> None:
    if name in body and body[name] is not None and not ok(body[name]):
        raise invalid_request(f"'{name}' must be {expected}.", code="invalid_type", param=name)
