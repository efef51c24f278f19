"""The usage rows of one isolate, gathered into batches for the origin.

A row joins the isolate's open batch. The request whose row opened the batch waits ``LINGER_SECONDS``
inside its own ``ctx.waitUntil`` and then sends whatever the batch holds; the request whose row fills
it (``MAX_ROWS`` rows or ``MAX_BYTES`` of envelopes) sends it at once. Either way a batch is sent by
the waitUntil of a request whose row it holds, and the origin is asked once per batch instead of once
per row. The rows of requests that finished earlier ride along: a row is in memory only while the
request that will send it is still running.
"""

from collections.abc import Callable, Coroutine
from typing import Any, Final

from edge.ingest import Parcel
from edge.runtime import Sleep

LINGER_SECONDS: Final = 1.0
MAX_ROWS: Final = 100
MAX_BYTES: Final = 256 * 1024  # the origin takes up to 1 MiB

Send = Callable[[list[Parcel]], Coroutine[Any, Any, Any]]


class Outbox:
    def __init__(
        self, *, linger: float = LINGER_SECONDS, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES
    ) -> None:
        self._linger = linger
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._open: list[Parcel] | None = None
        self._open_bytes = 0

    def add(self, parcel: Parcel, send: Send, sleep: Sleep) -> Coroutine[Any, Any, Any] | None:
        """Put ``parcel`` in the open batch; the work the caller's waitUntil must run, if any
        (``send`` is how this caller would deliver a batch)."""
        batch, opened = self._open, self._open is None
        if batch is None:
            batch = self._open = []
            self._open_bytes = 0
        batch.append(parcel)
        self._open_bytes += len(parcel.body)
        if len(batch) >= self._max_rows or self._open_bytes >= self._max_bytes:
            self._open = None
            return send(batch)
        return self._send_later(batch, send, sleep) if opened else None

    async def _send_later(self, batch: list[Parcel], send: Send, sleep: Sleep) -> Any:
        await sleep(self._linger)
        if self._open is not batch:
            return None  # filled meanwhile, and sent by the request that filled it
        self._open = None
        return await send(batch)
