"""Erasure of what Prism keeps for a project: by session, by tag, or all of it.

Everything a request leaves behind is listed in its project's index, under ``all``, its session and
each of its tags: the exact entry, the semantic answer, the copy published to Workers KV, and the
session whose memory the request fed. ``erase`` deletes what one list names and counts what went.
An index set lives as long as the longest entry it lists. Another instance's in-process copy of an
exact entry (this one's is dropped) lives on for at most ``PRISM_LOCAL_CACHE_SECONDS``; Workers KV
deletes are queued and
reach every PoP within KV's own propagation time.
"""

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import redis.asyncio as redis

from origin.cache.exact import CACHE_TIMEOUT_SECONDS, entry_key
from origin.cache.local import LocalEntries
from origin.cache.memory import SessionMemory
from origin.chat.prefix_survey import survey_keys
from origin.stores.kv import KVPublisher
from origin.stores.redis_client import RedisClient
from origin.stores.redis_multiplex import Arg
from origin.stores.redis_scripts import ScriptRunner
from origin.usage.filters import FilterError, Params, parse_request_filters

KINDS: Final = ("exact", "semantic", "edge", "memory")
Kind = Literal["exact", "semantic", "edge", "memory"]

_ADD: Final = """
local ttl = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  for i = 2, #ARGV do redis.call('sadd', key, ARGV[i]) end
  if redis.call('ttl', key) < ttl then redis.call('expire', key, ttl) end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Selector:
    """What to erase: one session, one tag (``key:value``), or everything."""

    kind: Literal["session", "tag", "all"]
    value: str = ""


SELECTOR_PARAMS: Final = ("session", "tag", "all")


def parse_selector(params: Params) -> Selector:
    """Exactly one of ``session=ID``, ``tag=key:value``, ``all=true``; ``FilterError`` otherwise."""
    unknown = sorted({name for name, _ in params} - set(SELECTOR_PARAMS))
    if unknown:
        raise FilterError(unknown[0], f"unknown parameter {unknown[0]!r}")
    if len(params) != 1:
        raise FilterError(
            "session", "say what to erase with exactly one of session=ID, tag=key:value or all=true"
        )
    name, value = params[0]
    if name == "all":
        if value != "true":
            raise FilterError("all", "all must be true")
        return Selector("all")
    filters = parse_request_filters(params)
    if filters.session is not None:
        return Selector("session", filters.session)
    ((key, tag_value),) = filters.tags
    return Selector("tag", f"{key}:{tag_value}")


def member(kind: Kind, name: str) -> str:
    return f"{kind}:{name}"


def _index_key(project_id: str, selector: Selector) -> str:
    # The project as hash tag: one project's index sets share a Redis Cluster slot.
    suffix = "all" if selector.kind == "all" else f"{selector.kind}:{selector.value}"
    return f"prism:cidx:{{{project_id}}}:{suffix}"


def selectors(session_id: str | None, tags: dict[str, str] | None) -> list[Selector]:
    """The lists a request's leftovers go in."""
    found = [Selector("all")]
    if session_id is not None:
        found.append(Selector("session", session_id))
    found += [Selector("tag", f"{key}:{value}") for key, value in sorted((tags or {}).items())]
    return found


class CacheIndex:
    def __init__(
        self,
        redis_client: RedisClient,
        memory: SessionMemory,
        kv: KVPublisher | None,
        *,
        local: LocalEntries | None = None,
        scripts: ScriptRunner | None = None,
        timeout: float = CACHE_TIMEOUT_SECONDS,
    ) -> None:
        self._redis = redis_client
        self._memory = memory
        self._kv = kv
        self._local = local
        self._timeout = timeout
        self._add = (scripts or ScriptRunner(redis_client)).register(_ADD)

    def add(
        self, project_id: str, under: Iterable[Selector], members: Iterable[str], ttl_seconds: int
    ) -> Coroutine[Any, Any, None]:
        """List ``members`` under each selector; best effort, like the caches it indexes.

        Queued before this returns (see ``SingleFlight.finish``); await it for the listing to be done."""
        keys, listed = [_index_key(project_id, selector) for selector in under], list(members)
        args: list[Arg] = [max(ttl_seconds, 1), *listed]
        sent = self._add.start(keys=keys, args=args, timeout=self._timeout) if listed else None
        return self._listed(sent)

    async def _listed(self, sent: "asyncio.Future[Any] | None") -> None:
        if sent is None:
            return
        with contextlib.suppress(TimeoutError, redis.RedisError):
            await sent

    async def listed(self, project_id: str) -> int:
        """How many things the project's index lists (entries still alive or not yet swept)."""
        return int(await self._redis.scard(_index_key(project_id, Selector("all"))))

    async def erase(self, project_id: str, selector: Selector) -> dict[str, int]:
        """Delete what ``selector`` lists; raises ``redis.RedisError`` when Redis is away (nothing is
        then known to be erased)."""
        key = _index_key(project_id, selector)
        listed = {raw.decode() if isinstance(raw, bytes) else raw for raw in await self._redis.smembers(key)}
        names: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for item in listed:
            kind, _, name = item.partition(":")
            if kind in names:
                names[kind].append(name)
        if selector.kind == "session" and selector.value not in names["memory"]:
            names["memory"].append(selector.value)  # memory made before it was indexed
        deleted = dict.fromkeys(KINDS, 0)
        if names["exact"]:
            deleted["exact"] = int(await self._redis.delete(*map(entry_key, names["exact"])))
            if self._local is not None:
                for fp in names["exact"]:
                    self._local.drop(fp)
        if names["semantic"]:
            deleted["semantic"] = int(await self._redis.delete(*names["semantic"]))
        if self._kv is not None and self._kv.enabled:
            for fp in names["edge"]:
                self._kv.delete_cache(fp)
            deleted["edge"] = len(names["edge"])
        for session in names["memory"]:
            deleted["memory"] += bool(await self._memory.erase(project_id, session))
        await self._redis.delete(key)
        if selector.kind == "all":  # what the prefix survey keeps is derived from prompts too
            await self._redis.delete(*survey_keys(project_id))
        return deleted
