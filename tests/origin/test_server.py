"""The origin's hypercorn setup, measured on a real origin's sockets."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from hypercorn.asyncio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from origin.server import YOUNG_GENERATION_THRESHOLD, hypercorn_config
from tests.harness import RunningOrigin, free_port
from tests.tasks import tasks_started

CLOSE_WAIT = "08"  # the kernel's TCP state number in /proc/net/tcp


def _close_wait_sockets(port: int) -> int:
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1
        for row in rows
        if int(row.split()[1].rsplit(":", 1)[1], 16) == port and row.split()[3] == CLOSE_WAIT
    )


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: origin\r\n\r\n".encode())
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    assert "connection: close" not in head  # still keep-alive: the server did not end it
    length = next(int(line.split(":")[1]) for line in head.splitlines() if line.startswith("content-length:"))
    await reader.readexactly(length)
    return int(head.split()[1])


async def test_connections_the_client_closes_are_closed_at_once(origin: RunningOrigin) -> None:
    port = urlsplit(origin.url).port
    assert port is not None
    gate = asyncio.Semaphore(50)

    async def short_lived_client() -> None:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert [await _get(reader, writer, "/healthz") for _ in range(2)] == [200, 200]
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(short_lived_client() for _ in range(300)))
    # Before the fix all 300 stayed in CLOSE-WAIT for hypercorn's keep_alive_timeout (75 s).
    for _ in range(20):  # up to 2 s
        if (lingering := _close_wait_sockets(port)) <= 3:
            break
        await asyncio.sleep(0.1)
    assert lingering <= 3, f"{lingering} of 300 client-closed connections still in CLOSE-WAIT after 2 s"


@asynccontextmanager
async def _served(
    keep_alive_seconds: float, answer_after: float = 0.0
) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A small app under ``prism serve``'s hypercorn setup; set the event to shut the server down."""

    async def slow(request: Request) -> PlainTextResponse:
        await asyncio.sleep(answer_after)
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/healthz", slow)])
    port = free_port()
    config = hypercorn_config("127.0.0.1", port)
    config.keep_alive_timeout = keep_alive_seconds
    shutdown = asyncio.Event()
    server = asyncio.create_task(serve(cast(Any, app), config, shutdown_trigger=shutdown.wait))
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.02)
        yield port, shutdown
    finally:
        shutdown.set()
        await asyncio.wait_for(server, 10)


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) == b""
    except TimeoutError:
        return False


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout() -> None:
    async with _served(keep_alive_seconds=0.3) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(4):  # 0.6 s in all, never idle for 0.3 s: kept open
            assert await _get(reader, writer, "/healthz") == 200
            await asyncio.sleep(0.15)
        started = asyncio.get_running_loop().time()
        assert await _closed_within(reader, 2.0)
        assert 0.1 <= asyncio.get_running_loop().time() - started < 1.0
        writer.close()


async def test_shutting_down_closes_idle_connections_at_once() -> None:
    async with _served(keep_alive_seconds=60) as (port, shutdown):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await _get(reader, writer, "/healthz") == 200
        shutdown.set()
        assert await _closed_within(reader, 2.0)  # not after the 60 s keep-alive
        writer.close()


async def test_a_request_in_flight_at_shutdown_is_answered_then_its_connection_closed() -> None:
    async with _served(keep_alive_seconds=60, answer_after=0.3) as (port, shutdown):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answered = asyncio.create_task(_get(reader, writer, "/healthz"))
        await asyncio.sleep(0.1)
        shutdown.set()
        assert await answered == 200
        assert await _closed_within(reader, 2.0)
        writer.close()


async def test_keep_alive_requests_start_no_task_for_the_idle_timer() -> None:
    async with _served(keep_alive_seconds=60) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await _get(reader, writer, "/healthz") == 200
        with tasks_started() as started:
            for _ in range(10):
                assert await _get(reader, writer, "/healthz") == 200
        writer.close()
    # hypercorn's own idle task cost two a request (``_idle_timeout`` and its ``wait_for``'s).
    assert len(started) == 10, started


def test_serving_freezes_what_exists_and_collects_the_young_generation_less_often() -> None:
    # In a process of its own: a frozen test process would never collect the suite's garbage.
    probe = (
        "import gc; from origin.server import tune_garbage_collector as tune; "
        "before = gc.get_freeze_count(); tune(); print(before, gc.get_freeze_count(), *gc.get_threshold())"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    before, frozen, young, *older = (int(part) for part in done.stdout.split())
    assert before == 0 and frozen > 10_000  # the imported modules' objects, at least
    assert young == YOUNG_GENERATION_THRESHOLD > 700 and older == [10, 10]
