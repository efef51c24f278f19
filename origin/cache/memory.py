"""Session memory for ``X-Prism-Session``: each turn of a session kept in Redis, replayed on request.

A session is one Redis list per (project, session), ``prism:mem:{project_id}:{sha256(session_id)}``;
each element is one whole turn, JSON-encoded::

    {"v": 1, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}

A turn stores the request's own user messages (``role``, ``content``, ``name``) and the answer's text
as an assistant message. System/developer prompts are not stored: they come with every request.
Tool calls are not stored either: replayed without their tool results they would make an invalid
conversation upstream. Appending is one MULTI/EXEC round trip (RPUSH, LTRIM, EXPIRE), so concurrent
turns of a session on any number of instances interleave as whole turns, and the key lives for
``ttl_seconds`` after the last turn. Memory is best-effort: a Redis outage, or a Redis that does not
answer within ``timeout`` seconds, reads as an empty history and loses the turn being recorded, it
never fails or holds up a request; only ``erase`` reports the outage.
"""

import asyncio
import hashlib
import json
import logging
from typing import Any, Final

from redis.exceptions import RedisError

from origin.chat.tokens import estimate_prompt_tokens
from origin.stores.redis_client import RedisClient
from shared.classify import message_text

PROMPT_ROLES: Final = frozenset({"system", "developer"})
MEMORY_ROLES: Final = PROMPT_ROLES | {"user"}
_STORED_FIELDS: Final = ("role", "content", "name")
_FORMAT: Final = 1
_UNAVAILABLE: Final = (RedisError, OSError, TimeoutError)
TIMEOUT_SECONDS: Final = 0.25

log = logging.getLogger("prism.memory")


def memory_key(project_id: str, session_id: str) -> str:
    # The digest is fixed-length hex without ':', so no (project, session) pair can spell another's key.
    digest = hashlib.sha256(session_id.encode()).hexdigest()
    return f"prism:mem:{project_id}:{digest}"


def memory_applies(messages: list[Any]) -> bool:
    """True when the request carries no assistant/tool turns, i.e. the client leaves history to Prism."""
    return all(isinstance(message, dict) and message.get("role") in MEMORY_ROLES for message in messages)


def with_history(messages: list[dict[str, Any]], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with ``history`` after the leading system/developer prompt, when memory applies."""
    if not history or not memory_applies(messages):
        return list(messages)
    split = next(
        (index for index, message in enumerate(messages) if message.get("role") not in PROMPT_ROLES),
        len(messages),
    )
    return [*messages[:split], *history, *messages[split:]]


def encode_turn(new_messages: list[dict[str, Any]], answer: dict[str, Any]) -> str:
    stored = [
        {field: message[field] for field in _STORED_FIELDS if message.get(field) is not None}
        for message in new_messages
        if isinstance(message, dict) and message.get("role") == "user"
    ]
    stored.append({"role": "assistant", "content": message_text(answer)})
    return json.dumps({"v": _FORMAT, "messages": stored}, separators=(",", ":"))


def decode_turn(raw: bytes | str) -> list[dict[str, Any]] | None:
    try:
        turn = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    messages = turn.get("messages") if isinstance(turn, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return None
    return messages


def newest_within(turns: list[list[dict[str, Any]]], token_budget: int) -> list[dict[str, Any]]:
    """The newest whole turns whose estimated tokens fit the budget, flattened oldest first."""
    kept: list[list[dict[str, Any]]] = []
    spent = 0
    for turn in reversed(turns):
        spent += estimate_prompt_tokens(turn)
        if spent > token_budget:
            break
        kept.append(turn)
    return [message for turn in reversed(kept) for message in turn]


class SessionMemory:
    def __init__(
        self,
        redis_client: RedisClient,
        *,
        ttl_seconds: int = 86400,
        max_turns: int = 200,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        if ttl_seconds <= 0 or max_turns <= 0:
            raise ValueError("ttl_seconds and max_turns must be positive")
        self._redis = redis_client
        self._timeout = timeout
        self._ttl_seconds = ttl_seconds
        self._max_turns = max_turns

    async def history(self, project_id: str, session_id: str, *, token_budget: int) -> list[dict[str, Any]]:
        """The stored messages, oldest first, trimmed oldest-first by whole turns to ``token_budget``."""
        if token_budget <= 0:
            return []
        try:
            async with asyncio.timeout(self._timeout):
                raw_turns: list[bytes | str] = await self._redis.lrange(
                    memory_key(project_id, session_id), -self._max_turns, -1
                )
        except _UNAVAILABLE as error:
            log.warning("session memory read failed: %s", type(error).__name__)
            return []
        turns = [turn for turn in map(decode_turn, raw_turns) if turn is not None]
        if len(turns) < len(raw_turns):
            log.warning("session memory skipped %d unreadable turns", len(raw_turns) - len(turns))
        return newest_within(turns, token_budget)

    def retained_seconds(self, max_ttl_seconds: int | None) -> int:
        """How long a turn is kept under a project's retention cap (``None``: no cap)."""
        return self._ttl_seconds if max_ttl_seconds is None else min(self._ttl_seconds, max_ttl_seconds)

    async def record_turn(
        self,
        project_id: str,
        session_id: str,
        new_messages: list[dict[str, Any]],
        answer: dict[str, Any],
        *,
        ttl_seconds: int | None = None,
    ) -> None:
        """Append one turn and restart the session's time to live (``ttl_seconds``, else the memory's
        own); a Redis outage only loses this turn."""
        key = memory_key(project_id, session_id)
        try:
            async with asyncio.timeout(self._timeout), self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, encode_turn(new_messages, answer))
                pipe.ltrim(key, -self._max_turns, -1)
                pipe.expire(key, self._ttl_seconds if ttl_seconds is None else ttl_seconds)
                await pipe.execute()
        except _UNAVAILABLE as error:
            log.warning("session memory write failed: %s", type(error).__name__)

    async def erase(self, project_id: str, session_id: str) -> bool:
        """Delete the session; Redis errors (and ``TimeoutError``) propagate so the caller can answer 503."""
        async with asyncio.timeout(self._timeout):
            deleted: int = await self._redis.delete(memory_key(project_id, session_id))
        return deleted > 0
