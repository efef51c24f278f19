"""Each project's controls, cached in process for a few seconds.

Bound: a change committed to Postgres at time t is seen by every ``get`` that starts after
``t + ttl_seconds`` (3 s by default) on every instance, because an entry is only served until
``ttl_seconds`` after the query that produced it *started*, and a caller waits at most
``load_timeout_seconds`` (0.5 s) for a load. With the defaults a change applies everywhere within
3.5 s. The wait is short because it is spent on the request path: with the key lookup's, it keeps a
request for a known key under 2 s while Postgres is hung.

A slow load is never cancelled (cancelling asyncpg mid-query is what leaks pooled connections): its
callers get the last known value after the timeout, later callers get it at once while the load is
still out, and the load's result is stored whenever it arrives.

Concurrent callers for one project share a single query. While Postgres is unreachable the last
known controls are served (the project's defaults if it was never loaded); a warning is logged when
loads start failing and once per project that falls back to defaults.
"""

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

import asyncpg

from origin.controls.policy import DEFAULT_CONTROLS, ProjectControls
from origin.stores import controls
from origin.stores.inflight import Inflight
from origin.stores.postgres import KeyRecord, Pool

Loader = Callable[[Pool, str, str], Awaitable[ProjectControls]]
_Key = tuple[str, str]
_MAX_ENTRIES: Final = 10_000
_UNAVAILABLE: Final = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
log = logging.getLogger("prism.controls")


class ControlsCache:
    def __init__(
        self,
        pool: Pool,
        *,
        ttl_seconds: float = 3.0,
        load_timeout_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        loader: Loader = controls.load_controls,
    ) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._load_timeout = load_timeout_seconds
        self._clock = clock
        self._loader = loader
        self._entries: dict[_Key, tuple[float, ProjectControls]] = {}
        self._loads: Inflight[_Key, ProjectControls] = Inflight(clock=clock)
        self._failing = False
        self._defaulted: set[_Key] = set()

    async def get(self, org_id: str, project_id: str) -> ProjectControls:
        key = (org_id, project_id)
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        try:
            return await self._loads.run(key, lambda: self._refresh(key), self._load_timeout)
        except TimeoutError as error:
            return self._fallback(key, self._clock(), error, store=False)

    async def of_key(self, key: KeyRecord) -> ProjectControls:
        """The controls of the key's project, as the key sees them (its own model globs applied)."""
        return (await self.get(key.org_id, key.project_id)).for_key(key.models)

    def invalidate(self, org_id: str, project_id: str) -> None:
        """Forget one project's entry (tests, and callers that just wrote its controls)."""
        self._entries.pop((org_id, project_id), None)

    async def _refresh(self, key: _Key) -> ProjectControls:
        started = self._clock()
        try:
            value = await self._loader(self._pool, *key)
        except _UNAVAILABLE as error:
            return self._fallback(key, started, error)
        if self._failing:
            self._failing = False
            log.info("project controls are loading again")
        self._defaulted.discard(key)
        self._store(key, started, value)
        return value

    def _fallback(
        self, key: _Key, started: float, error: BaseException, *, store: bool = True
    ) -> ProjectControls:
        if not self._failing:
            self._failing = True
            log.warning("cannot load project controls (%s); serving last known values", type(error).__name__)
        entry = self._entries.get(key)
        if entry is not None:
            value = entry[1]
        else:
            value = DEFAULT_CONTROLS
            if key not in self._defaulted:
                self._defaulted.add(key)
                log.warning("project %s has never been loaded; serving default controls", key[1])
        if store:  # Retry after another ttl rather than on every request while Postgres is away.
            self._store(key, started, value)
        return value

    def _store(self, key: _Key, started: float, value: ProjectControls) -> None:
        if len(self._entries) >= _MAX_ENTRIES and key not in self._entries:
            self._entries.clear()
        self._entries[key] = (started + self._ttl, value)
