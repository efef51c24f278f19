"""Sending requests to providers: pooled keep-alive connections, per-attempt timeouts."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:  # origin.config reads the embeddings config, whose client sends through here
    from origin.config import Timeouts
from origin.providers.base import JSON, ProviderConfig, SSEEvent, UpstreamRequest
from origin.providers.http1 import Answer, ConnectFailed, Endpoint, HttpClient, HttpError
from origin.providers.sse import SSEDecoder

CLIENT_FAULT_STATUSES: Final = frozenset({400, 413, 422})
log = logging.getLogger("prism.upstream")

Describe = Callable[[int, Any], str]


class UpstreamFailure(Exception):
    """One attempt failed. ``kind`` is connect, timeout, status or protocol.

    ``message`` may reach the client, so it names the provider and the kind of failure only; what
    the failure said itself (the connection's error with the provider's address, the provider's own words
    for a server error) goes to the ``prism.upstream`` log.
    """

    def __init__(
        self, kind: str, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def retryable(self, statuses: frozenset[int]) -> bool:
        """Worth another try on the same model (before any byte reached the client); ``statuses``
        are the adapter's retryable ones."""
        return self.kind in ("connect", "timeout") or self.status in statuses

    @property
    def client_fault(self) -> bool:
        """The upstream refused the request itself: no other model will like it better."""
        return self.status in CLIENT_FAULT_STATUSES


class UpstreamStream:
    """An upstream SSE answer whose first events have already arrived.

    Iterated, it gives the events as they arrive in batches: each holds those one network read
    completed (the first, those that opened the stream); ``UpstreamFailure`` on a stall or a cut. An
    iterator object rather than an async generator: a relay that stops at the answer's last event
    leaves it unfinished, and an unfinished generator costs the event loop a thread-safe wake-up and a
    task to close it."""

    def __init__(
        self,
        response: Answer,
        decoder: SSEDecoder,
        first: list[SSEEvent],
        idle: float,
        provider: str,
    ) -> None:
        self._response = response
        self._decoder = decoder
        self._first = first
        self._idle = idle
        self._provider = provider
        self._next: list[SSEEvent] | None = first
        self._ended = False

    @property
    def first_event(self) -> SSEEvent:
        return self._first[0]

    def __aiter__(self) -> "UpstreamStream":
        return self

    async def __anext__(self) -> list[SSEEvent]:
        if self._next is not None:
            batch, self._next = self._next, None
            return batch
        if not self._ended:
            batch = await _next_events(self._response, self._decoder, self._idle, self._provider)
            if batch:
                return batch
            self._ended = True
        raise StopAsyncIteration

    async def events(self) -> AsyncIterator[SSEEvent]:
        """Every event, one at a time."""
        async for batch in self:
            for event in batch:
                yield event

    def close(self) -> None:
        """Drop the upstream connection (also when the client went away mid-stream)."""
        self._response.close()


class Upstream:
    def __init__(self, providers: Mapping[str, ProviderConfig], timeouts: "Timeouts") -> None:
        self._providers = providers
        self._timeouts = timeouts
        self._endpoints = {name: Endpoint.parse(config.base_url) for name, config in providers.items()}
        self._client: HttpClient | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _send(self, provider: str, request: UpstreamRequest) -> Answer:
        if self._client is None:  # made on first use: it belongs to the loop that serves
            self._client = HttpClient(connect_timeout=self._timeouts.connect)
        try:
            return await self._client.post(
                self._endpoints[provider], request.path, request.headers, orjson.dumps(request.body)
            )
        except ConnectFailed as error:
            raise _logged("connect", f"cannot connect to provider {provider}", error) from None
        except HttpError as error:
            # Retried like a refused connect (kind), but said as it happened: reset after connecting.
            raise _logged("connect", f"provider {provider} dropped the connection", error) from None

    async def complete(
        self, provider: str, request: UpstreamRequest, describe: Describe, *, deadline: float | None = None
    ) -> JSON:
        """A non-streaming call: the parsed JSON answer of a 200, or ``UpstreamFailure``.

        ``deadline`` bounds the whole call (for callers that must stay fast, like embeddings)."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        end = None if deadline is None else loop.time() + deadline

        def bound(seconds: float) -> float:
            return loop.time() + seconds if end is None else min(loop.time() + seconds, end)

        try:
            # One timer, moved on as the call goes (each timer costs a schedule and a cancel).
            async with asyncio.timeout_at(bound(self._timeouts.first_byte)) as timer:
                response = await self._send(provider, request)
                timer.reschedule(bound(max(self._timeouts.idle, 1.0)))
                try:
                    raw = await response.read()
                finally:
                    response.close()
        except TimeoutError:
            waited = time.monotonic() - started
            raise UpstreamFailure(
                "timeout", f"provider {provider} did not answer within {waited:.1f}s"
            ) from None
        except HttpError as error:
            raise _logged("protocol", f"provider {provider} broke the connection", error) from None
        data = _json_or_none(raw)
        if response.status != 200:
            raise _status_failure(provider, response, data, describe)
        if not isinstance(data, dict):
            raise UpstreamFailure("protocol", f"provider {provider} answered with invalid JSON", status=502)
        return data

    async def open_stream(
        self, provider: str, request: UpstreamRequest, describe: Describe
    ) -> UpstreamStream:
        """Send a streaming request; return once the first event has arrived."""
        response: Answer | None = None
        try:
            async with asyncio.timeout(self._timeouts.first_byte):
                response = await self._send(provider, request)
                if response.status != 200:
                    raw = await response.read()
                    raise _status_failure(provider, response, _json_or_none(raw), describe)
                decoder = SSEDecoder()
                first = await _next_events(response, decoder, self._timeouts.first_byte, provider)
            if not first:
                raise UpstreamFailure("protocol", f"provider {provider} closed the stream before any event")
        except BaseException as error:
            if response is not None:
                response.close()
            if isinstance(error, TimeoutError):
                waited = self._timeouts.first_byte
                raise UpstreamFailure("timeout", f"provider {provider} sent nothing for {waited}s") from None
            if isinstance(error, HttpError):
                raise _logged("protocol", f"provider {provider} broke the stream", error) from None
            raise
        return UpstreamStream(response, decoder, first, self._timeouts.idle, provider)


async def _next_events(response: Answer, decoder: SSEDecoder, idle: float, provider: str) -> list[SSEEvent]:
    """The events the next reads complete (reading on until there is one); empty at the end."""
    while True:
        try:
            async with asyncio.timeout(idle):
                piece = await response.readany()
        except TimeoutError:
            raise UpstreamFailure(
                "timeout", f"provider {provider}'s stream stalled for more than {idle}s"
            ) from None
        except HttpError as error:
            raise _logged("protocol", f"provider {provider} broke the stream", error) from None
        try:
            if not piece:
                tail = decoder.close()
                return [tail] if tail is not None else []
            events = decoder.feed(piece)
        except ValueError as error:  # an event too large, or bytes that are not UTF-8
            raise _logged("protocol", f"provider {provider} sent an unreadable stream", error) from None
        if events:
            return events


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except ValueError:
        return None


def _logged(kind: str, message: str, error: BaseException) -> UpstreamFailure:
    log.warning("%s: %s: %s", message, type(error).__name__, error, extra={"kind": kind})
    return UpstreamFailure(kind, message)


def _status_failure(provider: str, response: Answer, data: Any, describe: Describe) -> UpstreamFailure:
    """A refused request keeps the provider's explanation (it is about the client's own request);
    any other status is only named: a provider's server error can quote its own insides."""
    described = describe(response.status, data)
    if response.status in CLIENT_FAULT_STATUSES:
        message = described
    else:
        message = f"provider {provider} answered HTTP {response.status}"
        log.warning("%s: %s", message, described, extra={"kind": "status"})
    retry_after: float | None = None
    header = response.headers.get("retry-after")
    if header:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    return UpstreamFailure("status", message, status=response.status, retry_after=retry_after)
