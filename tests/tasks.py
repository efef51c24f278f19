"""The tasks the event loop starts while a block runs, by their coroutine's name."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def tasks_started() -> Iterator[list[str]]:
    loop = asyncio.get_running_loop()
    started: list[str] = []

    def counted(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        started.append(coro.__qualname__)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counted)
    try:
        yield started
    finally:
        loop.set_task_factory(None)
