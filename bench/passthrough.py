"""The floor of Prism's own stack: a bare Starlette + hypercorn + aiohttp passthrough to one upstream.

No auth, cache, routing or usage row: the request body goes to ``{upstream}/v1/chat/completions``
unchanged and the answer comes back unchanged, streamed chunk by chunk when the upstream streams.
The same server settings as ``prism serve`` (``origin.server.hypercorn_config``: one worker, h11,
asyncio; its garbage collector tuned alike), so Prism's figures over this one are what the gateway
itself costs. ``POST /floor`` reads the body and answers a fixed JSON itself, no upstream: what the
server and Starlette alone cost a request (the bench's floor line).

    python -m bench.passthrough --port 8095 --upstream http://127.0.0.1:9100
"""

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import aiohttp
from hypercorn.asyncio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from origin.server import hypercorn_config, tune_garbage_collector

_PASSED_HEADERS: Final = ("content-type", "authorization")
FLOOR_PATH: Final = "/floor"
FLOOR_ANSWER: Final = b'{"floor":true}'


def build_app(upstream: str) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            app.state.session = session
            yield

    async def completions(request: Request) -> Response:
        session: aiohttp.ClientSession = request.app.state.session
        headers = {name: request.headers[name] for name in _PASSED_HEADERS if name in request.headers}
        answer = await session.post(
            f"{upstream}/v1/chat/completions", data=await request.body(), headers=headers
        )
        # Passed as a header, not media_type: Starlette would append a charset to text/event-stream.
        media_type = answer.headers.get("content-type", "application/json")
        if not media_type.startswith("text/event-stream"):
            body = await answer.read()
            answer.release()
            return Response(body, status_code=answer.status, headers={"content-type": media_type})

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.content.iter_any():
                    yield chunk
            finally:
                answer.release()

        return StreamingResponse(chunks(), status_code=answer.status, headers={"content-type": media_type})

    async def floor(request: Request) -> Response:
        await request.body()
        return Response(FLOOR_ANSWER, headers={"content-type": "application/json"})

    async def healthz(request: Request) -> Response:
        return Response(b"ok")

    routes = [
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route(FLOOR_PATH, floor, methods=["POST"]),
        Route("/healthz", healthz),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8095)
    parser.add_argument("--upstream", default="http://127.0.0.1:9100")
    args = parser.parse_args()
    config = hypercorn_config(args.host, args.port)
    tune_garbage_collector()
    asyncio.run(serve(build_app(args.upstream.rstrip("/")), config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
