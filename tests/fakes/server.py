"""The lifecycle every loopback test server shares: listen, stop, ``async with``, run as a process."""

import asyncio
import signal
from types import TracebackType
from typing import Self

from aiohttp import web


class LoopbackServer:
    """Subclasses build their ``web.AppRunner`` in ``start`` and hand it to ``_listen``."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        raise NotImplementedError

    async def _listen(self, runner: web.AppRunner, host: str, port: int) -> int:
        """Serve ``runner`` on ``host:port`` (0: any free port); return the port."""
        await runner.setup()
        await web.TCPSite(runner, host, port, backlog=2048).start()
        self._runner = runner
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    async def serve_until_signalled(self, host: str, port: int, banner: str) -> None:
        """Run as a process (``make run``): print ``banner`` and the URL, stop on SIGINT/SIGTERM."""
        url = await self.start(host, port)
        print(f"{banner} {url}", flush=True)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        try:
            await stopping.wait()
        finally:
            await self.stop()
