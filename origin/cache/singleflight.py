"""Single-flight: concurrent identical misses make one upstream call, across instances.

``begin`` reads the entry and, on a miss, takes the Redis lock in the same round trip; the leader
calls upstream and ``finish`` writes the entry and drops its lock in one more. The others wait,
polling the entry with backoff until it appears, the lock disappears (the leader failed) or the
wait bound passes. Waiters in one process share one poll per fingerprint. The entry and its lock
share a hash tag, so the scripts stay valid on Redis Cluster. Every round trip has a deadline
(``timeout``); a late one counts as Redis being away: a miss that leads, a failed write.
"""

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from origin.cache.exact import CACHE_TIMEOUT_SECONDS, REDIS_ERRORS, CacheEntry, entry_key
from origin.cache.local import LocalEntries
from origin.stores.redis_client import RedisClient
from origin.stores.redis_scripts import ScriptRunner

_RELEASE: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


_BEGIN: Final = """
local entry = redis.call('get', KEYS[1])
if entry then return {1, entry, redis.call('pttl', KEYS[1])} end
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, '', 0} end
return {3, '', 0}
"""

_FINISH: Final = """
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
if redis.call('get', KEYS[2]) == ARGV[3] then redis.call('del', KEYS[2]) end
return 1
"""


def lock_key(fp: str) -> str:
    return f"prism:sf:{{{fp}}}"


@dataclass(frozen=True, slots=True)
class Begun:
    """What ``begin`` found: the stored entry, or the lock this request now holds, or neither
    (another request leads)."""

    entry: CacheEntry | None
    lock: str | None


class SingleFlight:
    def __init__(
        self,
        redis_client: RedisClient,
        *,
        lock_ms: int = 60_000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: float = CACHE_TIMEOUT_SECONDS,
        local: LocalEntries | None = None,
        scripts: ScriptRunner | None = None,
    ) -> None:
        self._redis = redis_client
        scripts = scripts or ScriptRunner(redis_client)
        self._local = local or LocalEntries(0)
        self._lock_ms = lock_ms
        self._timeout = timeout
        self._sleep = sleep
        self._release = scripts.register(_RELEASE)
        self._begin = scripts.register(_BEGIN)
        self._finish = scripts.register(_FINISH)
        self._waits: dict[str, asyncio.Task[CacheEntry | None]] = {}

    async def begin(self, fp: str) -> Begun:
        """Read the entry (this process's copy first); on a miss take the lock. Without Redis: a miss
        that leads."""
        kept = self._local.get(fp)
        if kept is not None and (entry := _parse(kept)) is not None:
            return Begun(entry=entry, lock=None)
        token = secrets.token_hex(8)
        try:
            status, raw, left_ms = await self._begin(
                keys=[entry_key(fp), lock_key(fp)], args=[token, self._lock_ms], timeout=self._timeout
            )
        except REDIS_ERRORS:
            return Begun(entry=None, lock=token)
        if int(status) == 1:
            self._local.put(fp, raw, int(left_ms) / 1000)
            return Begun(entry=_parse(raw), lock=None)
        return Begun(entry=None, lock=token if int(status) == 2 else None)

    def finish(self, fp: str, entry: CacheEntry, ttl_seconds: int, lock: str) -> Coroutine[Any, Any, bool]:
        """Store the leader's entry and drop its lock, in one round trip; await for whether it was stored.

        The call is queued before this returns, so other script calls started before it is awaited
        share its round trip, with no task for either."""
        raw = entry.to_json()
        sent = self._finish.start(
            keys=[entry_key(fp), lock_key(fp)], args=[raw, ttl_seconds, lock], timeout=self._timeout
        )
        return self._finished(sent, fp, raw, ttl_seconds)

    async def _finished(self, sent: "asyncio.Future[Any]", fp: str, raw: bytes, ttl_seconds: int) -> bool:
        try:
            await sent
        except REDIS_ERRORS:
            return False
        self._local.put(fp, raw, ttl_seconds)
        return True

    async def acquire(self, fp: str) -> str | None:
        """A lock token when this request leads; ``None`` when another one already does.

        Without Redis every request leads (no coalescing, but no failure either).
        """
        token = secrets.token_hex(8)
        try:
            async with asyncio.timeout(self._timeout):
                taken = await self._redis.set(lock_key(fp), token, nx=True, px=self._lock_ms)
        except REDIS_ERRORS:
            return token
        return token if taken else None

    async def release(self, fp: str, token: str) -> None:
        with contextlib.suppress(*REDIS_ERRORS):
            await self._release(keys=[lock_key(fp)], args=[token], timeout=self._timeout)

    async def wait(self, fp: str, timeout: float) -> CacheEntry | None:
        """The leader's entry, or ``None`` when it failed or did not finish within ``timeout``."""
        task = self._waits.get(fp)
        if task is None:
            task = asyncio.ensure_future(self._poll(fp, timeout))
            self._waits[fp] = task
            task.add_done_callback(lambda _: self._waits.pop(fp, None))
        return await asyncio.shield(task)

    async def _poll(self, fp: str, timeout: float) -> CacheEntry | None:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while time.monotonic() < deadline:
            try:
                async with asyncio.timeout(self._timeout), self._redis.pipeline(transaction=False) as pipe:
                    pipe.get(entry_key(fp))
                    pipe.exists(lock_key(fp))
                    raw, locked = await pipe.execute()
            except REDIS_ERRORS:
                return None
            if raw is not None:
                return _parse(raw)
            if not locked:
                return None
            await self._sleep(delay)
            delay = min(delay * 2, 0.1)
        return None


def _parse(raw: bytes | str) -> CacheEntry | None:
    try:
        return CacheEntry.from_json(raw)
    except (ValueError, TypeError):
        return None
