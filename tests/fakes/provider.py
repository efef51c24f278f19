"""A fake LLM provider on a real socket, speaking the OpenAI (chat, Responses, embeddings) and
Anthropic wires, with knobs for failure.

In-process: ``FakeProvider().start()`` returns the base URL; ``configure`` sets per-model knobs.
As a demo upstream: ``python -m tests.fakes.provider --host 127.0.0.1 --port 9100``, driven over
``POST /_fake/behaviour``, ``POST /_fake/reset``, ``POST /_fake/flush`` (empties the prompt cache) and
``GET /_fake/requests`` (each request's path, model and JSON body).
The token rule and the knobs are described in ``tests.fakes.behaviour``, the prompt cache, on by default
(``--no-prompt-cache`` turns it off), in ``tests.fakes.prompt_cache``.
"""

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.fakes import anthropic_wire, openai_wire, responses_wire
from tests.fakes.behaviour import STAGE, Behaviour, ReceivedRequest, Stage, parse_json
from tests.fakes.server import LoopbackServer

BANNER = "FAKE PROVIDER (demo upstream, not a real LLM) listening on"


@web.middleware
async def _record(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/_fake/"):
        headers = {name.lower(): value for name, value in request.headers.items()}
        request.app[STAGE].record(request.path, headers, parse_json(await request.read()))
    return await handler(request)


async def _set_behaviour(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    if body is None:
        return web.json_response({"error": "expected a JSON object"}, status=400)
    model = body.pop("model", "*")
    if not isinstance(model, str):
        return web.json_response({"error": "model must be a string"}, status=400)
    try:
        behaviour = Behaviour.from_json(body)
    except (TypeError, ValueError) as error:
        return web.json_response({"error": str(error)}, status=400)
    request.app[STAGE].configure(model, behaviour)
    return web.json_response({"model": model, "behaviour": asdict(behaviour)})


async def _reset(request: web.Request) -> web.Response:
    request.app[STAGE].reset()
    return web.json_response({"ok": True})


async def _flush(request: web.Request) -> web.Response:
    request.app[STAGE].prompt_cache.flush()
    return web.json_response({"ok": True})


async def _requests(request: web.Request) -> web.Response:
    stage = request.app[STAGE]
    model, path = request.query.get("model"), request.query.get("path")
    chosen = [
        {"path": received.path, "model": received.model, "body": received.json}
        for received in stage.requests
        if (model is None or received.model == model) and (path is None or received.path == path)
    ]
    return web.json_response(
        {
            "count": len(chosen),
            "requests": chosen,
            "active_streams": stage.active_streams,
            "cancelled_streams": stage.cancelled_streams,
        }
    )


def create_app(stage: Stage) -> web.Application:
    app = web.Application(middlewares=[_record])
    app[STAGE] = stage
    app.router.add_post("/v1/chat/completions", openai_wire.chat_completions)
    app.router.add_post("/v1/embeddings", openai_wire.embeddings)
    app.router.add_post("/v1/responses", responses_wire.responses)
    app.router.add_get("/v1/models", openai_wire.models)
    app.router.add_post("/v1/messages", anthropic_wire.messages)
    app.router.add_post("/v1/messages/count_tokens", anthropic_wire.count_tokens)
    app.router.add_post("/_fake/behaviour", _set_behaviour)
    app.router.add_post("/_fake/reset", _reset)
    app.router.add_post("/_fake/flush", _flush)
    app.router.add_get("/_fake/requests", _requests)
    return app


class FakeProvider(LoopbackServer):
    def __init__(
        self, *, seed: int = 0, clock: Callable[[], float] = time.monotonic, prompt_cache: bool = True
    ) -> None:
        super().__init__()
        self._stage = Stage(seed, clock=clock, prompt_cache=prompt_cache)
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        runner = web.AppRunner(
            create_app(self._stage), handler_cancellation=True, access_log=None, shutdown_timeout=0.1
        )
        self.url = f"http://{host}:{await self._listen(runner, host, port)}"
        return self.url

    def configure(self, model: str, behaviour: Behaviour) -> None:
        self._stage.configure(model, behaviour)

    def reset(self) -> None:
        self._stage.reset()

    def flush_prompt_cache(self) -> None:
        self._stage.prompt_cache.flush()

    def count(self, model: str | None = None, path: str | None = None) -> int:
        return self._stage.count(model, path)

    @property
    def requests(self) -> list[ReceivedRequest]:
        return self._stage.requests

    @property
    def active_streams(self) -> int:
        return self._stage.active_streams

    @property
    def cancelled_streams(self) -> int:
        return self._stage.cancelled_streams


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake LLM provider as a demo upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--no-prompt-cache", action="store_true", help="answer every prompt uncached")
    args = parser.parse_args(argv)
    provider = FakeProvider(prompt_cache=not args.no_prompt_cache)
    asyncio.run(provider.serve_until_signalled(args.host, args.port, BANNER))


if __name__ == "__main__":
    main()
