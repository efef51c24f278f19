"""Cache breakpoints for Anthropic: the stable prefix (tools, then system) marked so it is paid once.

Anthropic caches a prompt only up to a block carrying ``cache_control``, and only from a per-model
length. A request translated from OpenAI's format carries no breakpoints, so without them every
call pays its whole prefix again. The tools and the system prompt come first in Anthropic's order
and rarely change between calls; the messages after them do, and a breakpoint after a tool result
that changes every turn would pay a write that nobody reads, so none is placed there.
"""

import json
from typing import Final

from origin.chat.tokens import estimate_tokens
from origin.providers.base import JSON

EPHEMERAL: Final = {"type": "ephemeral"}
DEFAULT_MINIMUM_TOKENS: Final = 1024
HAIKU_MINIMUM_TOKENS: Final = 2048


def minimum_tokens(upstream_model: str) -> int:
    """The shortest prefix Anthropic caches for ``upstream_model``; shorter ones are never written."""
    return HAIKU_MINIMUM_TOKENS if "haiku" in upstream_model else DEFAULT_MINIMUM_TOKENS


def with_breakpoints(request: JSON) -> JSON:
    """``request`` (an Anthropic Messages body) with breakpoints after the tools and after the system
    prompt, each where the prefix it ends is long enough to be cached."""
    minimum = minimum_tokens(str(request.get("model", "")))
    tools: list[JSON] = request.get("tools") or []
    system = request.get("system")
    tool_tokens = estimate_tokens(json.dumps(tools)) if tools else 0
    marked = dict(request)
    if tools and tool_tokens >= minimum:
        marked["tools"] = [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}]
    if isinstance(system, str) and system and tool_tokens + estimate_tokens(system) >= minimum:
        marked["system"] = [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
    return marked
