"""The exact cache: answers in Redis under ``shared.fingerprint`` keys (project-scoped by construction)."""

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final

import orjson
from redis.exceptions import RedisError

from origin.cache.local import LocalEntries
from origin.providers.base import JSON, Usage
from origin.stores.redis_client import RedisClient
from shared.edgekv import EdgeCacheEntry

log = logging.getLogger("prism.cache")
REDIS_ERRORS: Final = (RedisError, OSError, TimeoutError)
# A cache call on the request path waits this long; a later answer is a miss. Our own deadline, not
# only the client's socket timeout: redis-py retries timeouts, which against a hung Redis takes seconds.
CACHE_TIMEOUT_SECONDS: Final = 0.25


def entry_key(fp: str) -> str:
    return f"prism:cache:{{{fp}}}"  # the hash tag puts an entry and its single-flight lock in one slot


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A stored answer: the completion, the concrete model that produced it, its usage and cost."""

    response: JSON
    model: str
    provider: str
    route_head: str
    tokens_in: int
    tokens_out: int
    tokens_cached_in: int
    cost_cents: float

    @classmethod
    def build(
        cls, response: JSON, *, model: str, provider: str, route_head: str, usage: Usage, cost_cents: float
    ) -> "CacheEntry":
        return cls(
            response=response,
            model=model,
            provider=provider,
            route_head=route_head,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            tokens_cached_in=usage.tokens_cached_in,
            cost_cents=cost_cents,
        )

    @property
    def usage(self) -> Usage:
        return Usage(
            tokens_in=self.tokens_in, tokens_out=self.tokens_out, tokens_cached_in=self.tokens_cached_in
        )

    def for_edge(self, generation: str) -> EdgeCacheEntry:
        """What the edge needs to serve this answer from Workers KV, made under this controls
        generation (``origin.controls.generation``)."""
        return EdgeCacheEntry(
            response=self.response,
            model=self.model,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            tokens_cached_in=self.tokens_cached_in,
            cost_cents=self.cost_cents,
            generation=generation,
        )

    def to_json(self) -> bytes:
        # Shallow on purpose: dataclasses.asdict would deep-copy the whole response first.
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return orjson.dumps(fields)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "CacheEntry":
        data: dict[str, Any] = orjson.loads(raw)
        return cls(**data)


class ExactCache:
    """Writes that bypass single-flight (``no-cache`` refreshes); best-effort. Reads go through
    ``SingleFlight.begin``, which reads the entry and takes the lock in one round trip."""

    def __init__(
        self,
        redis_client: RedisClient,
        *,
        timeout: float = CACHE_TIMEOUT_SECONDS,
        local: LocalEntries | None = None,
    ) -> None:
        self._redis = redis_client
        self._timeout = timeout
        self._local = local or LocalEntries(0)

    async def put(self, fp: str, entry: CacheEntry, ttl_seconds: int) -> bool:
        raw = entry.to_json()
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.set(entry_key(fp), raw, ex=ttl_seconds)
        except REDIS_ERRORS as error:
            log.warning("cache write failed", extra={"error": type(error).__name__})
            return False
        self._local.put(fp, raw, ttl_seconds)
        return True
