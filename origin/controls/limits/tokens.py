"""Tokens per minute per API key, counted in Redis so every instance shares one limit.

A sliding-window log like the request limiter's: ``prism:tpm:{key_id}`` is a sorted set of the
admitted requests (score: epoch ms, member ``{tokens}:{id}``). A request is admitted, holding its
estimated input tokens, only while the last minute's tokens plus that estimate stay within the
limit; when it settles, its entry is swapped for the tokens it really used (input and output), so
the window counts what upstreams were really asked for. A request estimated above the whole limit
can never pass and says so.
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
NEVER: Final = -1
_WHAT: Final = "token limits"

# KEYS: the log. ARGV: now (ms), window (ms), cutoff (ms), limit, member, tokens.
# Returns {admitted, ms until enough of the window has passed (NEVER: the request alone is over)}.
_ADMIT: Final = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local limit, tokens = tonumber(ARGV[4]), tonumber(ARGV[6])
if redis.call('ZSCORE', KEYS[1], ARGV[5]) then
  return {1, 0}
end
if tokens > limit then
  return {0, -1}
end
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do
  used = used + tonumber(string.match(entries[i], '^(%d+):'))
end
if used + tokens <= limit then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, 0}
end
for i = 1, #entries, 2 do
  used = used - tonumber(string.match(entries[i], '^(%d+):'))
  if used + tokens <= limit then
    return {0, tonumber(entries[i + 1]) + tonumber(ARGV[2]) - tonumber(ARGV[1])}
  end
end
return {0, tonumber(ARGV[2])}
"""

# KEYS: the log. ARGV: the held member, the settled member, window (ms). The entry keeps its time.
_SETTLE: Final = """
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], at, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


@dataclass(frozen=True)
class TokenDecision:
    allowed: bool
    retry_after: int | None  # whole seconds; None: the request alone is over the limit
    hold: str  # the member to settle


def tpm_key(key_id: str) -> str:
    return f"prism:tpm:{key_id}"


class TokenLimiter:
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
        scripts = scripts or ScriptRunner(redis_client)
        self._admit = scripts.register(_ADMIT)
        self._settle = scripts.register(_SETTLE)

    async def admit(self, key_id: str, tokens: int, per_minute: int) -> TokenDecision:
        """Hold ``tokens`` for ``key_id`` if the last minute's tokens leave room for them."""
        if per_minute < 1:
            raise ValueError(f"per_minute must be at least 1, not {per_minute}")
        tokens = max(0, tokens)
        now = math.floor(self._clock() * 1000)
        hold = f"{tokens}:{uuid.uuid4().hex}"
        args: list[int | str] = [now, WINDOW_MS, now - WINDOW_MS, per_minute, hold, tokens]
        with unavailable_on_failure(_WHAT):
            replies = await self._admit(keys=[tpm_key(key_id)], args=args, timeout=self._timeout)
        allowed, wait_ms = (as_int(v) for v in replies)
        if allowed:
            return TokenDecision(True, 0, hold)
        retry = None if wait_ms == NEVER else max(1, math.ceil(wait_ms / 1000))
        return TokenDecision(False, retry, hold)

    async def settle(self, key_id: str, hold: str, tokens: int) -> None:
        """Count what the request really used in place of its estimate."""
        settled = f"{max(0, tokens)}:{hold.partition(':')[2]}"
        with unavailable_on_failure(_WHAT):
            await self._settle(keys=[tpm_key(key_id)], args=[hold, settled, WINDOW_MS], timeout=self._timeout)
