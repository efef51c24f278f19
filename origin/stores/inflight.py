"""One task per key for a slow store call, waited on for a bounded time and never cancelled.

Concurrent callers for one key share a single call. A caller that runs out of time gets
:class:`TimeoutError` while the call goes on in the background and finishes (or fails) on its own:
cancelling asyncpg mid-query or mid-acquire is what leaks pooled connections. By default the
deadline counts from when the call started, so a caller with something else to serve (a last known
value) and arriving after it has passed gets the timeout at once; a caller with nothing else to
serve may wait its own full ``timeout`` instead (``from_arrival``).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Inflight(Generic[K, T]):
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[K, tuple[float, asyncio.Task[T]]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    async def run(
        self, key: K, call: Callable[[], Awaitable[T]], timeout: float, *, from_arrival: bool = False
    ) -> T:
        """``call()``'s result (shared with concurrent callers of ``key``) within ``timeout`` seconds."""
        started, task = self._calls.get(key) or self._start(key, call)
        wait = timeout if from_arrival else timeout - (self._clock() - started)
        if wait > 0:
            # asyncio.wait cancels nothing it waits on, neither at the timeout nor when this caller
            # is cancelled (a shield here would also leave an unretrieved exception per caller).
            done, _ = await asyncio.wait({task}, timeout=wait)
            if done:
                return task.result()
        raise TimeoutError(f"no answer within {timeout}s")

    def _start(self, key: K, call: Callable[[], Awaitable[T]]) -> tuple[float, "asyncio.Task[T]"]:
        async def invoke() -> T:
            return await call()

        task = asyncio.get_running_loop().create_task(invoke())
        entry = (self._clock(), task)
        self._calls[key] = entry
        task.add_done_callback(lambda done: self._forget(key, done))
        return entry

    def _forget(self, key: K, task: "asyncio.Task[T]") -> None:
        entry = self._calls.get(key)
        if entry is not None and entry[1] is task:
            del self._calls[key]
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody waited for is not an "unretrieved" warning
