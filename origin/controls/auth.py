"""API-key authentication: HMAC hash → Postgres, cached briefly in Redis and in process.

A revoked key stops working within ``cache_seconds + LOCAL_SECONDS`` (≤ 5 s by default) on every
instance even if the revocation's cache delete is lost; normally revocation deletes the Redis entry.
While Postgres is unreachable an instance keeps answering for keys it has already seen (their last
known state), so an outage does not turn into a wall of 503s for existing traffic.
"""

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Final

import asyncpg
import redis.asyncio as redis
from redis.exceptions import RedisError

from origin.http.errors import ApiError
from origin.stores import postgres
from origin.stores.postgres import KeyRecord
from shared.keys import (
    MALFORMED_KEY,
    MISSING_KEY,
    REVOKED_KEY,
    UNKNOWN_KEY,
    KeyRejection,
    key_hash,
    looks_like_key,
    parse_bearer,
)

LOCAL_SECONDS: Final = 1.0
_LOCAL_MAX: Final = 10_000
_UNKNOWN: Final = "unknown"
log = logging.getLogger("prism.auth")


def _refused(rejection: KeyRejection) -> ApiError:
    return ApiError(401, rejection.message, code=rejection.code)


def cache_key(hashed: str) -> str:
    return f"prism:key:{hashed}"


class Authenticator:
    def __init__(
        self,
        pool: postgres.Pool,
        redis_client: "redis.Redis",
        *,
        pepper: str,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._redis = redis_client
        self._pepper = pepper
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._local: dict[str, tuple[float, KeyRecord | None]] = {}

    async def authenticate(self, authorization: str | None) -> KeyRecord:
        token = parse_bearer(authorization)
        if token is None:
            raise _refused(MISSING_KEY)
        if not looks_like_key(token):
            raise _refused(MALFORMED_KEY)
        record = await self.lookup(key_hash(token, self._pepper))
        if record is None:
            raise _refused(UNKNOWN_KEY)
        if not record.active:
            raise _refused(REVOKED_KEY)
        return record

    async def lookup(self, hashed: str) -> KeyRecord | None:
        now = self._clock()
        cached = self._local.get(hashed)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            record = await self._lookup_shared(hashed)
        except ApiError:
            if cached is None:
                raise
            # Postgres is unreachable: the last answer this instance saw beats refusing a known key.
            return cached[1]
        if len(self._local) >= _LOCAL_MAX:
            self._local.clear()
        self._local[hashed] = (now + LOCAL_SECONDS, record)
        return record

    async def _lookup_shared(self, hashed: str) -> KeyRecord | None:
        try:
            raw = await self._redis.get(cache_key(hashed))
        except RedisError:
            raw = None
        if raw is not None:
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            return None if text == _UNKNOWN else KeyRecord(**json.loads(text))
        try:
            record = await postgres.find_key(self._pool, hashed)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("key lookup failed: %s", type(error).__name__)
            raise ApiError(
                503, "Prism cannot check API keys right now; retry shortly.", code="auth_unavailable"
            ) from None
        value = _UNKNOWN if record is None else json.dumps(asdict(record))
        with contextlib.suppress(RedisError):
            await self._redis.set(cache_key(hashed), value, px=int(self._cache_seconds * 1000))
        return record


async def forget_keys(redis_client: "redis.Redis", hashes: list[str]) -> None:
    """Drop cached key records (after a revocation) so every instance re-reads Postgres."""
    if hashes:
        await redis_client.delete(*(cache_key(h) for h in hashes))
