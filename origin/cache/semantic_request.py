"""What of a chat request the semantic cache compares, and what must match exactly.

Compared: the embedding of the last user message (``semantic_text``). Everything else that shapes the
answer — system prompt, earlier turns, sampling parameters, the concrete model, the embedding model —
is folded into the scope (``semantic_scope``), so it must match exactly.
"""

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from origin.cache.canonical import orjson_canonical
from shared.fingerprint import IGNORED_FIELDS, canonical_bytes

SCOPE_VERSION: Final = "prism-sem-1"
MAX_TEXT_CHARS: Final = 2_000
_TEXT_PART_TYPES: Final = frozenset({"text", "input_text"})


def _content_text(content: Any) -> str | None:
    """The text of a message's content, or None when it holds anything but text."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in _TEXT_PART_TYPES:
            return None
        if not isinstance(text := part.get("text"), str):
            return None
        texts.append(text)
    return "\n".join(texts)


def semantic_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """What gets embedded: the last user message's text, whitespace collapsed."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return " ".join((_content_text(message.get("content")) or "").split())
    return ""


def eligible(body: Mapping[str, Any], *, max_chars: int = MAX_TEXT_CHARS) -> bool:
    """Plain text chat ending in a short user question: no tools, no media, one choice."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return False
    if body.get("tools") or body.get("functions") or body.get("n") not in (None, 1):
        return False
    for message in messages:
        if not isinstance(message, dict) or message.get("role") in ("tool", "function"):
            return False
        if message.get("tool_calls") or message.get("function_call"):
            return False
        if message.get("content") is not None and _content_text(message.get("content")) is None:
            return False
    if messages[-1].get("role") != "user":
        return False
    return 0 < len(semantic_text(messages)) <= max_chars


def semantic_scope(project_id: str, model: str, body: Mapping[str, Any], *, embedding_model: str) -> str:
    """Everything that must match exactly: project, concrete model, embedder, context, parameters.

    The context is every message but the last (system prompt, earlier turns) and every body field
    that the exact cache also keys on, except ``model`` (``model`` here is the concrete one).
    """
    context = {key: value for key, value in body.items() if key not in IGNORED_FIELDS and key != "model"}
    context["messages"] = list(body.get("messages") or [])[:-1]
    material = [SCOPE_VERSION, project_id, model, embedding_model, context]
    return hashlib.sha256(canonical_bytes(material, orjson_canonical)).hexdigest()
