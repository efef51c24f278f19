"""The streamed response at the ASGI boundary: a client that leaves ends the stream quietly, any other
cancellation still cancels, and the row is settled either way."""

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from origin.chat.ledger import Ledger
from origin.chat.streaming import LastChunk, SettlingStreamingResponse
from origin.stores.postgres import KeyRecord
from shared.usage import UsageRow

KEY = KeyRecord("key-1", "active", "pk_", "proj-1", "Project", "org-1", "Org")
SCOPE: dict[str, Any] = {"type": "http", "asgi": {"spec_version": "2.1", "version": "3.0"}}


class Client:
    """The ASGI server side: what the app sent, and a disconnect to deliver when the test says."""

    def __init__(self) -> None:
        self.sent: list[MutableMapping[str, Any]] = []
        self.leave = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)

    @property
    def bodies(self) -> list[bytes]:
        return [message["body"] for message in self.sent if message["type"] == "http.response.body"]


class Body:
    """One chunk, then a wait for an upstream that never answers (unless told to finish)."""

    def __init__(self) -> None:
        self.first_sent = asyncio.Event()
        self.finish = asyncio.Event()
        self.cancelled = False
        self.last = bytes

    async def __call__(self) -> AsyncIterator[bytes]:
        yield b"data: one\n\n"
        self.first_sent.set()
        try:
            await self.finish.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        yield self.last(b"data: [DONE]\n\n")


class Exchange:
    def __init__(self) -> None:
        self.client, self.body = Client(), Body()
        self.rows: list[UsageRow] = []
        self.abandoned: list[bool] = []

    async def respond(self) -> None:
        ledger = Ledger(KEY, self.rows.append, lambda coroutine: coroutine.close())
        response = SettlingStreamingResponse(
            self.body(),
            ledger=ledger,
            on_abandon=lambda: self.abandoned.append(True),
            media_type="text/event-stream",
        )
        await response(SCOPE, self.client.receive, self.client.send)


async def test_a_client_that_leaves_ends_the_stream_without_an_error_and_settles_the_row() -> None:
    exchange = Exchange()
    call = asyncio.ensure_future(exchange.respond())
    await exchange.body.first_sent.wait()

    exchange.client.leave.set()
    async with asyncio.timeout(1):
        await call  # returns: the server is not told the app failed

    assert exchange.body.cancelled
    assert exchange.client.bodies == [b"data: one\n\n"]
    assert [(row.status_code, row.error_code) for row in exchange.rows] == [(499, "client_disconnected")]
    assert exchange.abandoned == [True]


async def test_a_cancellation_from_the_server_still_cancels_the_request() -> None:
    exchange = Exchange()
    call = asyncio.ensure_future(exchange.respond())
    await exchange.body.first_sent.wait()

    call.cancel()
    async with asyncio.timeout(1):
        await asyncio.wait([call])

    assert call.cancelled()
    assert exchange.body.cancelled
    assert [row.status_code for row in exchange.rows] == [499]


async def test_a_finished_stream_leaves_no_watcher_behind() -> None:
    exchange = Exchange()
    exchange.body.finish.set()
    before = asyncio.all_tasks()

    async with asyncio.timeout(1):
        await exchange.respond()
    await asyncio.sleep(0)

    assert exchange.client.bodies == [b"data: one\n\n", b"data: [DONE]\n\n", b""]
    assert asyncio.all_tasks() == before
    assert not exchange.body.cancelled


async def test_the_last_chunk_goes_out_with_the_end_of_the_body() -> None:
    exchange = Exchange()
    exchange.body.finish.set()
    exchange.body.last = LastChunk

    async with asyncio.timeout(1):
        await exchange.respond()

    ends = [message.get("more_body", False) for message in exchange.client.sent[1:]]
    assert exchange.client.bodies == [b"data: one\n\n", b"data: [DONE]\n\n"]
    assert ends == [True, False]
