"""Run the origin on hypercorn."""

import asyncio
import signal
from typing import Any, cast

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from origin.app import create_app
from origin.settings import Settings

MAX_HEADER_BYTES = 128 * 1024


def hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.keep_alive_timeout = 75
    # hypercorn's default listen backlog (100) overflows under bursts of new connections: the kernel
    # then drops SYNs and clients stall for seconds in TCP retransmits.
    config.backlog = 2048
    # Room for big attribution headers (Cloudflare forwards up to 128 KiB of request headers);
    # beyond this hypercorn answers 431 before Prism sees the request.
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    return config


async def serve(settings: Settings, *, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app = cast(Any, create_app(settings))
    await hypercorn_serve(app, hypercorn_config(host, port), shutdown_trigger=stop.wait)
