"""Run a real origin (hypercorn on a loopback port) inside the test's event loop."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from hypercorn.asyncio import serve

from origin.app import create_app
from origin.server import hypercorn_config
from origin.settings import Settings
from origin.state import AppState


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningOrigin:
    url: str
    state: AppState


async def wait_for_http(url: str, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{url} did not answer within {seconds}s")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def running_origin(settings: Settings) -> AsyncIterator[RunningOrigin]:
    app = create_app(settings)
    port = free_port()
    shutdown = asyncio.Event()
    task = asyncio.create_task(
        serve(cast(Any, app), hypercorn_config("127.0.0.1", port), shutdown_trigger=shutdown.wait)
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_for_http(url + "/healthz")
        yield RunningOrigin(url=url, state=app.state.prism)
    finally:
        shutdown.set()
        done, _ = await asyncio.wait({task}, timeout=15)
        if not done:
            raise TimeoutError(
                f"the origin on {url} did not stop within 15 s; still running: {stuck_tasks()}"
            )
        task.result()


def stuck_tasks() -> list[str]:
    """Where every other task of the loop is waiting: what a hung request is stuck on."""
    where = []
    for other in asyncio.all_tasks():
        if other is asyncio.current_task():
            continue
        trail, awaited = [], cast(Any, other.get_coro())
        while awaited is not None:  # follow the await chain down to where it is suspended
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is None:
                break
            trail.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        where.append(f"{other.get_name()}: {' > '.join(trail)}")
    return where
