"""Relaying a Messages stream to the client as Anthropic's events, settling the ledger at the end.

An Anthropic upstream's events go out as they came (parsed once, for the usage row and the cache);
another upstream's chat chunks are translated event by event. The cost goes as an SSE comment
before ``message_stop``, which SSE clients skip.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson

from origin.chat.ledger import Ledger
from origin.chat.streaming import LastChunk, seen_usage
from origin.messages.dispatch import MessagesStream
from origin.messages.events import MessageAssembler, encode
from origin.messages.from_chat import EventsFromChunks
from origin.providers.anthropic_answer import error_text, usage_from_anthropic
from origin.providers.base import JSON, SSEEvent, UpstreamStreamError, Usage
from origin.providers.dispatch import Answered
from origin.providers.upstream import UpstreamFailure
from shared.costs import Costs
from shared.replay import named_event

log = logging.getLogger("prism.messages")

OnComplete = Callable[[JSON, Usage], Awaitable[None]]


def stream_error(message: str) -> bytes:
    return encode({"type": "error", "error": {"type": "api_error", "message": message}})


class _Relay:
    """One stream's state: what was said (assembled), and the bytes to send next."""

    def __init__(self, answered: Answered[MessagesStream], prompt_tokens: int) -> None:
        self.model = answered.model
        self.opened = answered.result
        self.assembler = MessageAssembler()
        self.prompt_tokens = prompt_tokens
        self.chunks = EventsFromChunks(self.model.name, prompt_tokens)
        self.out: list[bytes] = []
        self.finished = False

    def usage(self) -> Usage:
        translator = self.opened.translator
        if translator is not None:
            reported = translator.usage
        else:
            reported = usage_from_anthropic(self.assembler.usage)
            reported.model_version = self.assembler.model
        return seen_usage(reported, self.assembler.text(), self.prompt_tokens)

    def _cost(self) -> bytes:
        return Costs(self.usage().cost_cents(self.model.price)).comment()

    def native(self, event: SSEEvent) -> None:
        payload = orjson.loads(event.data) if event.data.strip() else None
        if not isinstance(payload, dict):
            return
        if payload.get("type") == "error":
            raise UpstreamStreamError(error_text(payload) or "upstream reported a stream error")
        self.assembler.add(payload)
        if payload.get("type") == "message_stop":
            self.finished = True
            self.out.append(self._cost())
        self.out.append(named_event(event.event or str(payload.get("type")), event.data))

    def translated(self, event: SSEEvent) -> None:
        assert self.opened.translator is not None
        for chunk in self.opened.translator.feed(event):
            self._emit(self.chunks.feed(chunk))
        self.finished = self.opened.translator.finished

    def close_translated(self) -> None:
        assert self.opened.translator is not None
        self._emit(self.chunks.close(self.opened.translator.usage))

    def _emit(self, events: list[JSON]) -> None:
        for event in events:
            self.assembler.add(event)
            if event["type"] == "message_stop":
                self.out.append(self._cost())
            self.out.append(encode(event))

    def take(self) -> bytes:
        taken = b"".join(self.out)
        self.out.clear()
        return taken


async def relay_messages(
    answered: Answered[MessagesStream],
    ledger: Ledger,
    *,
    prompt_tokens: int,
    on_complete: OnComplete | None = None,
) -> AsyncIterator[bytes]:
    """Yield SSE bytes; after the first byte there is no fallback, only an error event."""
    relay = _Relay(answered, prompt_tokens)
    feed = relay.translated if relay.opened.translator is not None else relay.native
    try:
        async for batch in relay.opened.stream:
            for event in batch:
                feed(event)
                if relay.finished:
                    break
            if relay.finished:
                break
            if relay.out:
                yield relay.take()
        translator = relay.opened.translator
        if translator is not None and (relay.finished or relay.chunks.stopped):
            relay.close_translated()
        elif not relay.finished:
            raise UpstreamFailure("protocol", "the upstream stream ended before the answer was complete")
        if on_complete is not None and relay.assembler.complete:
            await on_complete(relay.assembler.message(), relay.usage())
        yield LastChunk(relay.take())
    except (UpstreamFailure, UpstreamStreamError, ValueError) as error:
        message = getattr(error, "message", None) or str(error) or "the upstream stream failed"
        ledger.fail(502, "upstream_stream_error")
        log.warning("stream failed after the first byte", extra={"request_id": ledger.request_id})
        yield LastChunk(relay.take() + stream_error(message))
    except (asyncio.CancelledError, GeneratorExit):
        ledger.fail(499, "client_disconnected")
        raise
    finally:
        relay.opened.stream.close()
        ledger.charge(relay.model, relay.usage())
        ledger.settle()
