"""API-key authentication: HMAC hash → Postgres, cached briefly in Redis and in process.

A revoked key stops working within ``cache_seconds + LOCAL_SECONDS`` (≤ 5 s by default) on every
instance even if the revocation's cache delete is lost; normally revocation deletes the Redis entry.
While Postgres is unreachable, or too slow to answer within ``lookup_timeout_seconds``, an instance
keeps answering for keys it has already seen (their last known state), so an outage does not turn
into a wall of 503s or of hung requests for existing traffic; a key it has never seen gets the 503.

Concurrent lookups of one key share a single lookup (``origin.stores.inflight``), which is never
cancelled: a caller that stops waiting leaves it to finish and refresh the in-process entry.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Final

import asyncpg
from redis.exceptions import RedisError

from origin.http.errors import ApiError
from origin.stores import postgres
from origin.stores.inflight import Inflight
from origin.stores.postgres import KeyRecord
from origin.stores.redis_client import RedisClient
from shared.keys import (
    MALFORMED_KEY,
    MISSING_KEY,
    UNKNOWN_KEY,
    KeyRejection,
    key_hash,
    key_refusal,
    looks_like_key,
    parse_bearer,
)

Finder = Callable[[postgres.Pool, str], Awaitable[KeyRecord | None]]
LOCAL_SECONDS: Final = 1.0
_LOCAL_MAX: Final = 10_000
_UNKNOWN: Final = "unknown"
_REDIS_ERRORS: Final = (RedisError, OSError, TimeoutError)
_POSTGRES_ERRORS: Final = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
log = logging.getLogger("prism.auth")


def _refused(rejection: KeyRejection) -> ApiError:
    return ApiError(401, rejection.message, code=rejection.code)


def _unavailable() -> ApiError:
    return ApiError(503, "Prism cannot check API keys right now; retry shortly.", code="auth_unavailable")


def cache_key(hashed: str) -> str:
    return f"prism:key:{hashed}"


class Authenticator:
    def __init__(
        self,
        pool: postgres.Pool,
        redis_client: RedisClient,
        *,
        pepper: str,
        cache_seconds: float,
        lookup_timeout_seconds: float = 0.75,
        redis_timeout_seconds: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        finder: Finder = postgres.find_key,
    ) -> None:
        self._pool = pool
        self._redis = redis_client
        self._pepper = pepper
        self._cache_seconds = cache_seconds
        self._lookup_timeout = lookup_timeout_seconds
        self._redis_timeout = redis_timeout_seconds
        self._clock = clock
        self._wall = wall  # expiry is a moment in time, not an interval
        self._finder = finder
        self._local: dict[str, tuple[float, KeyRecord | None]] = {}
        self._lookups: Inflight[str, KeyRecord | None] = Inflight(clock=clock)
        self._slow = False

    async def authenticate(self, authorization: str | None) -> KeyRecord:
        token = parse_bearer(authorization)
        if token is None:
            raise _refused(MISSING_KEY)
        if not looks_like_key(token):
            raise _refused(MALFORMED_KEY)
        record = await self.lookup(key_hash(token, self._pepper))
        if record is None:
            raise _refused(UNKNOWN_KEY)
        if (refusal := key_refusal(record.active, record.expires_at, self._wall())) is not None:
            raise _refused(refusal)
        return record

    async def lookup(self, hashed: str) -> KeyRecord | None:
        cached = self._local.get(hashed)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        try:
            return await self._lookups.run(
                hashed, lambda: self._refresh(hashed), self._lookup_timeout, from_arrival=cached is None
            )
        except TimeoutError:
            if not self._slow:
                self._slow = True
                log.warning("key lookups take longer than %ss; serving last known keys", self._lookup_timeout)
            if cached is None:
                raise _unavailable() from None
        except ApiError:
            if cached is None:
                raise
        # Postgres is unreachable or hung: the last answer this instance saw beats refusing a known key.
        return cached[1]

    async def _refresh(self, hashed: str) -> KeyRecord | None:
        started = self._clock()
        record = await self._lookup_shared(hashed)
        if self._slow:
            self._slow = False
            log.info("key lookups answer again")
        if len(self._local) >= _LOCAL_MAX:
            self._local.clear()
        self._local[hashed] = (started + LOCAL_SECONDS, record)
        return record

    async def _lookup_shared(self, hashed: str) -> KeyRecord | None:
        try:
            async with asyncio.timeout(self._redis_timeout):
                raw = await self._redis.get(cache_key(hashed))
        except _REDIS_ERRORS:
            raw = None
        if raw is not None:
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            return None if text == _UNKNOWN else KeyRecord.from_json(json.loads(text))
        try:
            record = await self._finder(self._pool, hashed)
        except _POSTGRES_ERRORS as error:
            log.warning("key lookup failed: %s", type(error).__name__)
            raise _unavailable() from None
        value = _UNKNOWN if record is None else json.dumps(asdict(record))
        try:
            async with asyncio.timeout(self._redis_timeout):
                await self._redis.set(cache_key(hashed), value, px=int(self._cache_seconds * 1000))
        except _REDIS_ERRORS:
            pass
        return record


async def forget_keys(redis_client: RedisClient, hashes: list[str]) -> None:
    """Drop cached key records (after a revocation) so every instance re-reads Postgres."""
    if hashes:
        await redis_client.delete(*(cache_key(h) for h in hashes))
