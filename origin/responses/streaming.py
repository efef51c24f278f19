"""Relaying a Responses stream to the client, settling the ledger at the end.

A Responses upstream's events go out as they came (parsed once, for the usage row and the cache),
except that the response objects they carry are adopted as Prism's (its id, the public model name);
a chat upstream's chunks are told as Responses events. The cost goes as an SSE comment before the
final ``response.completed`` (or ``.incomplete``) event, which SSE clients skip.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson

from origin.chat.ledger import Ledger
from origin.chat.streaming import LastChunk, seen_usage
from origin.providers.base import JSON, SSEEvent, UpstreamStreamError, Usage
from origin.providers.dispatch import Answered
from origin.providers.openai import usage_from_responses
from origin.providers.upstream import UpstreamFailure
from origin.responses.dispatch import ResponsesStream
from origin.responses.output import ResponseBuilder, adopt, encode, responses_usage
from shared.costs import Costs
from shared.replay import named_event

log = logging.getLogger("prism.responses")

OnComplete = Callable[[JSON, Usage], Awaitable[None]]
DELTAS = ("response.output_text.delta", "response.function_call_arguments.delta")
TERMINAL = ("response.completed", "response.incomplete")
FAILED = ("error", "response.failed")


def _error_text(payload: JSON) -> str:
    error = payload.get("error") or (payload.get("response") or {}).get("error") or payload
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "upstream reported a stream error"


class _Relay:
    """One stream's state: what was said, the final response once known, and the bytes to send next."""

    def __init__(self, answered: Answered[ResponsesStream], prompt_tokens: int) -> None:
        self.model = answered.model
        self.opened = answered.result
        self.builder = ResponseBuilder(self.opened.shell)
        self.prompt_tokens = prompt_tokens
        self.said: list[str] = []
        self.out: list[bytes] = []
        self.finish_reason: str | None = None  # a chat upstream's
        self.reported = Usage()  # a Responses upstream's, from its final event
        self.sequence = 0  # the next sequence number after the upstream's
        self.response: JSON | None = None
        self.last_event = b""  # held back until the cost comment is in front of it
        self.finished = False

    def usage(self) -> Usage:
        translator = self.opened.translator
        reported = translator.usage if translator is not None else self.reported
        return seen_usage(reported, "".join(self.said), self.prompt_tokens)

    def native(self, event: SSEEvent) -> None:
        payload = orjson.loads(event.data) if event.data.strip() else None
        if not isinstance(payload, dict):
            return
        kind = payload.get("type")
        if isinstance(payload.get("sequence_number"), int):
            self.sequence = payload["sequence_number"] + 1
        if kind in FAILED:
            raise UpstreamStreamError(_error_text(payload))
        if kind in DELTAS and isinstance(payload.get("delta"), str):
            self.said.append(payload["delta"])
        if not isinstance(payload.get("response"), dict):
            self.out.append(named_event(event.event or str(kind), event.data))
            return
        adopted = {**payload, "response": adopt(payload["response"], self.opened.shell)}
        if kind not in TERMINAL:
            self.out.append(encode(adopted))
            return
        self.response = adopted["response"]
        self.reported = usage_from_responses(payload["response"])
        self.last_event = encode(adopted)
        self.finished = True

    def translated(self, event: SSEEvent) -> None:
        assert self.opened.translator is not None
        for chunk in self.opened.translator.feed(event):
            events, reason = self.builder.chunk(chunk)
            self.finish_reason = reason or self.finish_reason
            self._send(events)
        self.finished = self.opened.translator.finished

    def start(self) -> None:
        if self.opened.translator is not None:
            self._send(self.builder.start())

    def close(self) -> JSON:
        """The finished response; its final event is ``last_event``."""
        if self.opened.translator is None:
            if self.response is None:
                raise UpstreamFailure("protocol", "the upstream stream ended before the answer was complete")
            return self.response
        if not (self.finished or self.finish_reason):
            raise UpstreamFailure("protocol", "the upstream stream ended before the answer was complete")
        final = self.builder.finish(self.finish_reason, responses_usage(self.usage()))
        self._send(final[:-1])
        self.last_event = encode(final[-1])
        return self.builder.response

    def error(self, message: str) -> bytes:
        if self.opened.translator is not None:
            return encode(self.builder.error("upstream_stream_error", message))
        event = {
            "type": "error",
            "sequence_number": self.sequence,
            "code": "upstream_stream_error",
            "message": message,
            "param": None,
        }
        return encode(event)

    def _send(self, events: list[JSON]) -> None:
        for event in events:
            if event["type"] in DELTAS:
                self.said.append(event["delta"])
            self.out.append(encode(event))

    def take(self) -> bytes:
        taken = b"".join(self.out)
        self.out.clear()
        return taken


async def relay_responses(
    answered: Answered[ResponsesStream],
    ledger: Ledger,
    *,
    prompt_tokens: int,
    on_complete: OnComplete,
) -> AsyncIterator[bytes]:
    """Yield SSE bytes; after the first byte there is no fallback, only an ``error`` event."""
    relay = _Relay(answered, prompt_tokens)
    feed = relay.translated if relay.opened.translator is not None else relay.native
    try:
        relay.start()
        async for batch in relay.opened.stream:
            for event in batch:
                feed(event)
                if relay.finished:
                    break
            if relay.finished:
                break
            if relay.out:
                yield relay.take()
        response = relay.close()
        await on_complete(response, relay.usage())
        cost = Costs(relay.usage().cost_cents(relay.model.price)).comment()
        yield LastChunk(relay.take() + cost + relay.last_event)
    except (UpstreamFailure, UpstreamStreamError, ValueError) as error:
        message = getattr(error, "message", None) or str(error) or "the upstream stream failed"
        ledger.fail(502, "upstream_stream_error")
        log.warning("stream failed after the first byte", extra={"request_id": ledger.request_id})
        yield LastChunk(relay.take() + relay.error(message))
    except (asyncio.CancelledError, GeneratorExit):
        ledger.fail(499, "client_disconnected")
        raise
    finally:
        relay.opened.stream.close()
        ledger.charge(relay.model, relay.usage())
        ledger.settle()
