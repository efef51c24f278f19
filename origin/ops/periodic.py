"""Work an instance repeats on a task of its own until it stops: a failed run is logged, not fatal."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("prism.periodic")


class Periodic:
    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[object]],
        *,
        every: float,
        retry_after: float = 30.0,
        wait_first: bool = False,
    ) -> None:
        """``work`` runs at start (after ``every`` when ``wait_first``), then ``every`` seconds after it
        ends; at once when it returns ``True`` (more is waiting); after a failure (a store away), in
        ``retry_after`` seconds."""
        self._name = name
        self._work = work
        self._every = every
        self._retry_after = min(retry_after, every)
        self._wait_first = wait_first
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"{self._name} is already started")
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"prism-{self._name}")

    async def stop(self) -> None:
        """Cancel the work where it waits: only work that may be cut short mid-run belongs here."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self._wait_first:
            await asyncio.sleep(self._every)
        while True:
            try:
                more = await self._work()
                pause = 0.0 if more is True else self._every
            except Exception as error:
                log.warning(
                    "%s failed (%s); retrying in %.0f s", self._name, type(error).__name__, self._retry_after
                )
                pause = self._retry_after
            await asyncio.sleep(pause)
