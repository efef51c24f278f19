"""Relaying a chat stream to the client as the Responses event stream, settling the ledger at the end.

The cost goes as an SSE comment before the final ``response.completed`` (or ``.incomplete``) event,
which SSE clients skip.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from origin.chat.ledger import Ledger
from origin.chat.streaming import LastChunk, seen_usage
from origin.providers.base import JSON, UpstreamStreamError, Usage
from origin.providers.dispatch import Answered, OpenStream
from origin.providers.upstream import UpstreamFailure
from origin.responses.output import ResponseBuilder, encode, responses_usage
from shared.costs import Costs

log = logging.getLogger("prism.responses")

OnComplete = Callable[[JSON, Usage], Awaitable[None]]
DELTAS = ("response.output_text.delta", "response.function_call_arguments.delta")


async def relay_responses(
    answered: Answered[OpenStream],
    ledger: Ledger,
    builder: ResponseBuilder,
    *,
    prompt_tokens: int,
    on_complete: OnComplete,
) -> AsyncIterator[bytes]:
    """Yield SSE bytes; after the first byte there is no fallback, only an ``error`` event."""
    opened = answered.result
    translator = opened.translator
    said: list[str] = []
    out: list[bytes] = []
    finish: str | None = None

    def usage() -> Usage:
        return seen_usage(translator.usage, "".join(said), prompt_tokens)

    def send(events: list[JSON]) -> None:
        for event in events:
            if event["type"] in DELTAS:
                said.append(event["delta"])
            out.append(encode(event))

    try:
        send(builder.start())
        async for batch in opened.stream.batches():
            for event in batch:
                for chunk in translator.feed(event):
                    events, reason = builder.chunk(chunk)
                    finish = reason or finish
                    send(events)
                if translator.finished:
                    break
            if translator.finished:
                break
            if out:
                yield b"".join(out)
                out.clear()
        if not (translator.finished or finish):
            raise UpstreamFailure("protocol", "the upstream stream ended before the answer was complete")
        final = builder.finish(finish, responses_usage(usage()))
        await on_complete(builder.response, usage())
        send(final[:-1])
        cost = Costs(usage().cost_cents(answered.model.price)).comment()
        yield LastChunk(b"".join(out) + cost + encode(final[-1]))
    except (UpstreamFailure, UpstreamStreamError, ValueError) as error:
        message = getattr(error, "message", None) or str(error) or "the upstream stream failed"
        ledger.fail(502, "upstream_stream_error")
        log.warning("stream failed after the first byte", extra={"request_id": ledger.request_id})
        yield LastChunk(b"".join(out) + encode(builder.error("upstream_stream_error", message)))
    except (asyncio.CancelledError, GeneratorExit):
        ledger.fail(499, "client_disconnected")
        raise
    finally:
        opened.stream.close()
        ledger.charge(answered.model, usage())
        ledger.settle()
