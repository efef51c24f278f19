"""Checks on an Anthropic Messages body (``POST /v1/messages``), so bad input is a 400 naming the field."""

from typing import Any, Final

from shared.errors import InvalidBody

ROLES: Final = frozenset({"user", "assistant"})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _blocks_ok(content: Any) -> bool:
    """A string, or a list of blocks that each name their ``type``."""
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        isinstance(block, dict) and isinstance(block.get("type"), str) for block in content
    )


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidBody("messages: at least one message is required.", "invalid_type", "messages")
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise InvalidBody(
                f"{where}.role: must be 'user' or 'assistant'.", "invalid_value", f"{where}.role"
            )
        if not _blocks_ok(message.get("content")):
            raise InvalidBody(
                f"{where}.content: must be a string or a list of content blocks, each with a type.",
                "invalid_type",
                f"{where}.content",
            )


def _check_optional(body: dict[str, Any]) -> None:
    system = body.get("system")
    if system is not None and not _blocks_ok(system):
        raise InvalidBody("system: must be a string or a list of text blocks.", "invalid_type", "system")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise InvalidBody("stream: must be a boolean.", "invalid_type", "stream")
    for name in ("temperature", "top_p"):
        if name in body and not (_is_number(body[name]) and 0 <= body[name] <= 1):
            raise InvalidBody(f"{name}: must be a number from 0 to 1.", "invalid_type", name)
    if "top_k" in body and not (_is_int(body["top_k"]) and body["top_k"] >= 0):
        raise InvalidBody("top_k: must be a non-negative integer.", "invalid_type", "top_k")
    stops = body.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        raise InvalidBody("stop_sequences: must be a list of strings.", "invalid_type", "stop_sequences")
    tools = body.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in tools)
    ):
        raise InvalidBody("tools: must be a list of tools, each with a name.", "invalid_type", "tools")
    choice = body.get("tool_choice")
    if choice is not None and not (isinstance(choice, dict) and isinstance(choice.get("type"), str)):
        raise InvalidBody("tool_choice: must be an object with a type.", "invalid_type", "tool_choice")


def validate_count_tokens_body(body: Any) -> dict[str, Any]:
    """A ``count_tokens`` body: a Messages body without ``max_tokens``."""
    if not isinstance(body, dict):
        raise InvalidBody("The request body must be a JSON object.", "invalid_body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidBody("model: must be a non-empty string.", "invalid_type", "model")
    _check_messages(body.get("messages"))
    _check_optional(body)
    return body


def validate_messages_body(body: Any) -> dict[str, Any]:
    """The body itself when it is a Messages request Prism can carry, else ``InvalidBody``."""
    checked = validate_count_tokens_body(body)
    max_tokens: Any = checked.get("max_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise InvalidBody("max_tokens: must be a positive integer.", "invalid_type", "max_tokens")
    return checked
