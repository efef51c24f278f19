"""The origin's hypercorn setup, measured on a real origin's sockets."""

import asyncio
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from origin.server import YOUNG_GENERATION_THRESHOLD
from tests.harness import RunningOrigin

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
