"""Relaying a translated upstream stream to the client as OpenAI SSE, settling the ledger at the end."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from origin.cache.assemble import ChunkAssembler
from origin.chat.ledger import Ledger
from origin.chat.tokens import estimate_tokens
from origin.providers.base import JSON, UpstreamStreamError, Usage
from origin.providers.dispatch import Answered, OpenStream
from origin.providers.upstream import UpstreamFailure
from shared.costs import Costs
from shared.replay import DONE, sse_data

log = logging.getLogger("prism.stream")


class LastChunk(bytes):
    """A stream's final yield: sent with the end of the body, one ASGI message instead of two."""


def _event(payload: JSON) -> bytes:
    return sse_data(orjson.dumps(payload))


def _strip_usage(chunk: JSON) -> JSON | None:
    """Without ``include_usage`` the client gets no usage chunk and no ``usage`` keys."""
    if not chunk.get("choices") and "usage" in chunk:
        return None
    chunk.pop("usage", None)
    return chunk


def _usage_chunk(template: JSON, usage: Usage) -> JSON:
    return {
        "id": template.get("id"),
        "object": "chat.completion.chunk",
        "created": template.get("created"),
        "model": template.get("model"),
        "choices": [],
        "usage": usage.openai_usage(),
    }


OnComplete = Callable[[JSON, Usage], Awaitable[None]]


async def relay(
    answered: Answered[OpenStream],
    ledger: Ledger,
    *,
    include_usage: bool,
    prompt_tokens: int,
    on_complete: OnComplete | None = None,
) -> AsyncIterator[bytes]:
    """Yield SSE bytes; after the first byte there is no fallback, only an error event.

    ``on_complete`` receives the assembled answer of a stream that finished cleanly (for the cache).
    """
    opened = answered.result
    translator = opened.translator

    def costs(usage: Usage) -> Costs:
        return Costs(usage.cost_cents(answered.model.price))

    assembler = ChunkAssembler()
    last: JSON = {}
    usage_sent = False
    # What one upstream read brought goes to the client as one write (one ASGI message, one send).
    relayed: list[bytes] = []
    try:
        async for batch in opened.stream:
            for event in batch:
                for chunk in translator.feed(event):
                    last = chunk
                    assembler.add(chunk)
                    if include_usage:
                        if chunk.get("usage"):
                            usage_sent = True
                            chunk = {**chunk, "prism": costs(translator.usage).extension()}
                        relayed.append(_event(chunk))
                    elif (kept := _strip_usage(chunk)) is not None:
                        relayed.append(_event(kept))
                if translator.finished:
                    break
            if translator.finished:
                break
            if relayed:
                yield b"".join(relayed)
                relayed.clear()
        if not (translator.finished or assembler.finished_any):
            raise UpstreamFailure("protocol", "the upstream stream ended before the answer was complete")
        if include_usage and not usage_sent:
            usage_chunk = _usage_chunk(last, translator.usage)
            relayed.append(_event({**usage_chunk, "prism": costs(translator.usage).extension()}))
        if on_complete is not None and assembler.complete:
            await on_complete(assembler.completion(translator.usage), translator.usage)
        yield LastChunk(b"".join(relayed) + costs(translator.usage).comment() + DONE)
    except (UpstreamFailure, UpstreamStreamError, ValueError) as error:
        message = getattr(error, "message", None) or str(error) or "the upstream stream failed"
        ledger.fail(502, "upstream_stream_error")
        log.warning("stream failed after the first byte", extra={"request_id": ledger.request_id})
        # The chunks the failing read brought before the failure still reach the client, first.
        yield LastChunk(
            b"".join(relayed)
            + _event(
                {
                    "error": {
                        "message": message,
                        "type": "upstream_error",
                        "code": "upstream_stream_error",
                        "param": None,
                    }
                }
            )
        )
    except (asyncio.CancelledError, GeneratorExit):
        ledger.fail(499, "client_disconnected")
        raise
    finally:
        opened.stream.close()
        ledger.charge(answered.model, seen_usage(translator.usage, assembler.streamed_text(), prompt_tokens))
        ledger.settle()


def seen_usage(reported: Usage, text: str, prompt_tokens: int) -> Usage:
    """The upstream's usage when it reported it, else an estimate of what was streamed so far."""
    if (reported.tokens_out or not text) and (reported.tokens_in or not prompt_tokens):
        return reported
    return Usage(
        tokens_in=reported.tokens_in or prompt_tokens,
        tokens_out=reported.tokens_out or estimate_tokens(text),
        tokens_cached_in=reported.tokens_cached_in,
        tokens_cache_write_5m=reported.tokens_cache_write_5m,
        tokens_cache_write_1h=reported.tokens_cache_write_1h,
        model_version=reported.model_version,
    )


class SettlingStreamingResponse(StreamingResponse):
    """Stops the stream when the client leaves, and settles the ledger even when the client vanished
    before the body iterator ever started.

    Starlette's own disconnect watch runs the stream and the watcher in an anyio task group, 6% of a
    streamed miss's CPU; here the stream stays in the request's task and only the watcher is one.
    """

    def __init__(
        self, content: Any, *, ledger: Ledger, on_abandon: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._ledger = ledger
        self._on_abandon = on_abandon

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        last: bytes | memoryview = b""
        async for chunk in self.body_iterator:
            body = chunk.encode(self.charset) if isinstance(chunk, str) else chunk
            if isinstance(chunk, LastChunk):
                last = body  # sent once the iterator has ended (and settled the row)
            else:
                await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": last, "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None
        watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, streaming))
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            # The watcher runs only while this task waits inside the try, so its cancel lands here.
            left = watcher.done() and not watcher.cancelled() and watcher.exception() is None
            if not left or streaming.uncancel() > 0:  # cancelled for another reason too
                raise
        finally:
            watcher.cancel()
            if not self._ledger.settled:
                self._on_abandon()
                self._ledger.fail(499, "client_disconnected")
                self._ledger.settle()


async def _cancel_on_disconnect(receive: Receive, streaming: "asyncio.Task[Any]") -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    streaming.cancel()
