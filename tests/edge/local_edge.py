"""The local edge as a test fixture: ``node scripts/edge-local/server.mjs`` — the real Worker code
(edge/ + shared/) and the real ``workers`` SDK in Pyodide — started and stopped around a block::

    async with LocalEdge(origin_url=..., kv_base_url=..., pepper=..., ingest_secret=...) as edge:
        edge.url  # http://127.0.0.1:PORT

Its output is drained continuously (a full pipe would stall Node) and kept in ``lines``.
"""

import asyncio
import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import aiohttp

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
SERVER: Final = REPO_ROOT / "scripts" / "edge-local" / "server.mjs"
READY: Final = re.compile(r"LOCAL EDGE \(real Worker code in Pyodide\) listening on (http://\S+)")
# A cold Pyodide start is about 5 s on two cores; leave room for a loaded CI machine.
START_TIMEOUT: Final = 60.0


def node_missing() -> str | None:
    """Why the local edge cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (the local edge runs the Worker in Pyodide under Node)"
    return None


class LocalEdgeError(RuntimeError):
    pass


class LocalEdge:
    def __init__(
        self,
        *,
        origin_url: str,
        pepper: str,
        ingest_secret: str,
        kv_base_url: str | None = None,
        account: str = "",
        namespace: str = "",
        token: str = "",
        colo: str = "SIN",
        source_root: Path | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        """``kv_base_url=None`` gives the Worker an in-memory KV (``KV_MEMORY=1``)."""
        self._env = {
            "EDGE_PORT": "0",
            "EDGE_COLO": colo,
            "ORIGIN_URL": origin_url,
            "KEY_PEPPER": pepper,
            "INGEST_SECRET": ingest_secret,
        }
        if kv_base_url is None:
            self._env["KV_MEMORY"] = "1"
        else:
            self._env |= {
                "CF_API_BASE_URL": kv_base_url,
                "CF_ACCOUNT_ID": account,
                "CF_KV_NAMESPACE_ID": namespace,
                "CF_API_TOKEN": token,
            }
        if source_root is not None:
            self._env["EDGE_SOURCE_ROOT"] = str(source_root)
        self._start_timeout = start_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[str] | None = None
        self.lines: list[str] = []
        self.url = ""

    async def __aenter__(self) -> "LocalEdge":
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        # Only this fixture's settings: a developer's CF_* or EDGE_* must not redirect the Worker.
        prefixes = ("CF_", "KV_", "EDGE_")
        environ = {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}
        self._process = await asyncio.create_subprocess_exec(
            "node",
            str(SERVER),
            cwd=REPO_ROOT,
            env=environ | self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=1 << 20,  # a Python traceback can be one long line
        )
        self._ready = asyncio.get_running_loop().create_future()
        self._drain = asyncio.create_task(self._read_output())
        try:
            self.url = await asyncio.wait_for(asyncio.shield(self._ready), self._start_timeout)
        except (TimeoutError, LocalEdgeError) as error:
            await self.stop()
            raise LocalEdgeError(f"the local edge did not start: {error}\n{self.output}") from None

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._drain is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
        if self._ready is not None and self._ready.done() and not self._ready.cancelled():
            self._ready.exception()  # retrieved, so asyncio does not warn about it

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def stats(self) -> dict[str, Any]:
        """The server's own counters: requests, inflight, errors, wait_until {pending, settled, failed}."""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}/__edge/stats") as response:
                response.raise_for_status()
                result: dict[str, Any] = json.loads(await response.text())
                return result

    async def _read_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None and self._ready is not None
        async for raw in self._process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if not self._ready.done() and (match := READY.search(line)):
                self._ready.set_result(match.group(1))
        if not self._ready.done():
            self._ready.set_exception(LocalEdgeError("the process exited"))
