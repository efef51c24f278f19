"""Requests per minute per API key, counted in Redis so every instance shares one limit.

A sliding-window log, exact to the millisecond: ``prism:ratelimit:{key_id}`` is a sorted set of the
admitted requests' timestamps (epoch ms). A hit first drops entries at or before ``now - 60 s``;
it is admitted, and recorded, only while fewer than ``per_minute`` remain, so no 60-second window
(on the instances' clocks) ever holds more than ``per_minute`` admitted requests. Refused requests
are not recorded: hammering does not push the reopening further out. ``retry_after`` is the whole
seconds, rounded up, until enough of the oldest entries leave the window. Memory is one small entry
per admitted request in the last minute, so at most ``per_minute`` entries per key.
"""

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from origin.controls.limits.errors import unavailable_on_failure
from origin.stores.redis_client import RedisClient
from origin.stores.redis_scripts import ScriptRunner, as_int

WINDOW_MS: Final = 60_000
_WHAT: Final = "rate limits"

# KEYS: the log. ARGV: now (ms), window (ms), cutoff (ms), limit, member.
# Running it again for the same member (the client retrying after a lost reply) counts it once.
_HIT: Final = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local limit = tonumber(ARGV[4])
local count = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[5]) then
  return {1, 0, math.max(limit - count, 0)}
end
if count < limit then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, 0, limit - count - 1}
end
local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {0, tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1]), 0}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int
    remaining: int


def ratelimit_key(key_id: str) -> str:
    return f"prism:ratelimit:{key_id}"


class RateLimiter:
    def __init__(
        self,
        redis_client: RedisClient,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 1.0,
        scripts: ScriptRunner | None = None,
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._hit = (scripts or ScriptRunner(redis_client)).register(_HIT)

    async def hit(self, key_id: str, per_minute: int) -> RateDecision:
        """Count one request for ``key_id`` if it fits in the last minute's ``per_minute``."""
        if per_minute < 1:
            raise ValueError(f"per_minute must be at least 1, not {per_minute}")
        now = math.floor(self._clock() * 1000)
        args: list[int | str] = [now, WINDOW_MS, now - WINDOW_MS, per_minute, f"{now}:{uuid.uuid4().hex}"]
        with unavailable_on_failure(_WHAT):
            replies = await self._hit(keys=[ratelimit_key(key_id)], args=args, timeout=self._timeout)
        allowed, wait_ms, remaining = (as_int(v) for v in replies)
        retry_after = 0 if allowed else max(1, math.ceil(wait_ms / 1000))
        return RateDecision(allowed=bool(allowed), retry_after=retry_after, remaining=remaining)
