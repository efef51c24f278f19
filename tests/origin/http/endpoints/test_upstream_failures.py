"""A failing provider's error body names the provider and the failure, nothing of the inside."""

import asyncio
import contextlib
import json
import logging
import re
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

import aiohttp
import pytest

from origin.settings import Settings
from origin.stores import postgres
from tests.harness import RunningOrigin, free_port, running_origin

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# What a provider's own server error may say about its insides; a 5xx body must not repeat it.
INSIDE = "ECONNREFUSED 10.20.30.40:5432 in /srv/provider/db.py"
EXCEPTION_NAME = re.compile(r"[A-Za-z]+(Error|Exception)\b|Errno|ssl:default|Connect call failed")


@dataclass(frozen=True, slots=True)
class Broken:
    origin: RunningOrigin
    key: str
    ports: dict[str, int]


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # with SO_LINGER 0: a TCP reset


def _answer(status: str, content_type: str, body: bytes) -> Handler:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    return answer


def _config(ports: dict[str, int]) -> str:
    parts = []
    for name, port in ports.items():
        parts.append(
            f'[providers.{name}prov]\nkind = "openai"\nbase_url = "http://127.0.0.1:{port}/v1"\n\n'
            f'[models.{name}]\nprovider = "{name}prov"\nprice = {{ input = 1.0, output = 1.0 }}\n'
        )
    first = next(iter(ports))
    parts.append(f'[routing.modes]\ncheap = ["{first}"]\nbalanced = ["{first}"]\nquality = ["{first}"]\n')
    parts.append("[timeouts]\nconnect = 0.5\nfirst_byte = 0.5\nidle = 0.5\n")
    parts.append("[retries]\nattempts = 1\n")
    parts.append("[breaker]\nfailure_threshold = 1000\ncooldown_seconds = 0.5\n")
    return "\n".join(parts)


@pytest.fixture(scope="module")
async def broken(
    base_settings: Settings, migrated: str, pool: postgres.Pool, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Broken]:
    stop = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stop.wait()
        writer.close()

    handlers: dict[str, Handler] = {
        "reset": _reset,
        "silent": silent,
        "html": _answer("200 OK", "text/html", b"<html>proxy 10.20.30.40:8000 /srv/www</html>"),
        "inside": _answer(
            "500 Internal Server Error",
            "application/json",
            json.dumps({"error": {"message": INSIDE}}).encode(),
        ),
    }
    servers = [await asyncio.start_server(handler, "127.0.0.1", 0) for handler in handlers.values()]
    ports = {"dead": free_port()} | {
        name: server.sockets[0].getsockname()[1] for name, server in zip(handlers, servers, strict=True)
    }
    directory = tmp_path_factory.mktemp("broken")
    (directory / "prism.toml").write_text(_config(ports))
    settings = replace(
        base_settings,
        config_path=directory / "prism.toml",
        spool_dir=directory / "spool",
        provider_api_keys={f"{name}prov": "sk-broken" for name in ports},
    )
    key, _ = await postgres.create_key(pool, project="broken", org="tests", pepper=settings.key_pepper)
    try:
        async with running_origin(settings) as origin:
            yield Broken(origin, key, ports)
    finally:
        stop.set()
        for server in servers:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "kind"),
    [
        ("dead", 502, "cannot connect"),
        ("reset", 502, "dropped the connection"),
        ("silent", 504, "timed out"),
        ("html", 502, ""),
        ("inside", 502, "answered HTTP 500"),
    ],
)
async def test_an_error_body_names_the_provider_and_nothing_inside(
    broken: Broken, model: str, status: int, kind: str, stream: bool
) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    headers = {"Authorization": f"Bearer {broken.key}", "Cache-Control": "no-store"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            broken.origin.url + "/v1/chat/completions", json=body, headers=headers
        ) as response:
            text = await response.text()
            assert response.status == status, text
    error = json.loads(text)["error"]
    assert f"provider {model}prov" in error["message"] and kind in error["message"]
    for inside in ("127.0.0.1", "10.20.30.40", str(broken.ports[model]), "/v1", "/srv", INSIDE):
        assert inside not in text
    assert EXCEPTION_NAME.search(text) is None, text


async def test_the_detail_stays_in_the_log(
    broken: Broken, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("prism"), "propagate", True)  # the app's logging turns it off
    caplog.set_level(logging.WARNING, logger="prism.upstream")
    headers = {"Authorization": f"Bearer {broken.key}", "Cache-Control": "no-store"}
    async with aiohttp.ClientSession() as session:
        for model in ("dead", "inside"):
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            async with session.post(
                broken.origin.url + "/v1/chat/completions", json=body, headers=headers
            ) as response:
                assert response.status == 502
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == "prism.upstream")
    assert f"127.0.0.1:{broken.ports['dead']}" in logged and INSIDE in logged
