"""A Redis lease: at most one origin instance does a job at a time, and any instance can take it over.

The holder renews the lease on every tick; an instance that stops releases it, and one that dies
lets it run out, so the job never depends on which host or colour of a blue/green pair is up.
"""

import contextlib
import secrets
from typing import Final

from origin.cache.exact import CACHE_TIMEOUT_SECONDS, REDIS_ERRORS
from origin.stores.redis_client import RedisClient
from origin.stores.redis_multiplex import Arg
from origin.stores.redis_scripts import ScriptRunner

_HOLD: Final = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""

_RELEASE: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease:
    def __init__(
        self,
        redis_client: RedisClient,
        name: str,
        *,
        seconds: float,
        scripts: ScriptRunner | None = None,
        timeout: float = CACHE_TIMEOUT_SECONDS,
    ) -> None:
        scripts = scripts or ScriptRunner(redis_client)
        self._key = f"prism:lease:{name}"
        self._token = secrets.token_hex(8)
        self._milliseconds = max(1, int(seconds * 1000))
        self._timeout = timeout
        self._hold = scripts.register(_HOLD)
        self._release = scripts.register(_RELEASE)

    async def hold(self) -> bool:
        """Take or renew the lease; ``False`` when another instance holds it or Redis is away."""
        try:
            args: list[Arg] = [self._token, self._milliseconds]
            return bool(await self._hold(keys=[self._key], args=args, timeout=self._timeout))
        except REDIS_ERRORS:
            return False

    async def release(self) -> None:
        with contextlib.suppress(*REDIS_ERRORS):  # it runs out by itself
            await self._release(keys=[self._key], args=[self._token], timeout=self._timeout)
