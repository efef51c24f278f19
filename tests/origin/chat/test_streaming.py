"""The relay: the real dispatcher opens a stream on the fake provider; the relay turns it into SSE bytes."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from origin.chat.ledger import Ledger
from origin.chat.routing import Route
from origin.chat.streaming import relay
from origin.config import GatewayConfig, Timeouts
from origin.ops.metrics import Metrics
from origin.providers.base import JSON, ModelConfig, Price, ProviderConfig, Usage
from origin.providers.breakers import Breakers
from origin.providers.dispatch import Answered, Dispatcher, OpenStream
from origin.providers.upstream import Upstream
from origin.stores.postgres import KeyRecord
from shared.usage import UsageRow
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider

PRICE = Price(input=1.0, output=2.0)
KEY = KeyRecord("key-1", "active", "pk_", "proj-1", "Project", "org-1", "Org")
BODY = {"messages": [{"role": "user", "content": "tell me about streams"}]}


class Opened:
    def __init__(self, fake: FakeProvider) -> None:
        providers = {
            "oai": ProviderConfig(name="oai", kind="openai", base_url=f"{fake.url}/v1", api_key="sk"),
            "ant": ProviderConfig(name="ant", kind="anthropic", base_url=fake.url, api_key="sk"),
        }
        self.models = {
            "alpha": ModelConfig("alpha", "oai", "alpha", PRICE),
            "claude": ModelConfig("claude", "ant", "claude-up", PRICE),
        }
        self.config = GatewayConfig(
            providers=providers,
            models=self.models,
            modes={"balanced": tuple(self.models)},
            timeouts=Timeouts(connect=1.0, first_byte=2.0, idle=0.3),
        )
        self.upstream = Upstream(providers, self.config.timeouts)
        self.dispatcher = Dispatcher(self.config, self.upstream, Breakers(self.config.breaker), Metrics())
        self.rows: list[UsageRow] = []
        self.completed: list[tuple[JSON, Usage]] = []
        self.comments: list[str] = []  # SSE comments, which clients skip

    async def open(self, model: str) -> Answered[OpenStream]:
        route = Route((self.models[model],), mode="balanced", task_type="chat")
        return await self.dispatcher.open_stream(route, BODY, "chatcmpl-test", 1700000000)

    async def relayed(self, model: str, *, include_usage: bool = True) -> list[Any]:
        ledger = Ledger(KEY, self.rows.append, lambda coroutine: coroutine.close())

        async def on_complete(completion: JSON, usage: Usage) -> None:
            self.completed.append((completion, usage))

        events: list[Any] = []
        stream = relay(
            await self.open(model),
            ledger,
            include_usage=include_usage,
            prompt_tokens=7,
            on_complete=on_complete,
        )
        async for raw in stream:
            for frame in raw.decode().split("\n\n"):
                if frame.startswith(":"):
                    self.comments.append(frame)
                elif frame:
                    payload = frame.removeprefix("data: ")
                    events.append(payload if payload == "[DONE]" else json.loads(payload))
        return events


@pytest.fixture
async def opened(fake: FakeProvider) -> AsyncIterator[Opened]:
    rig = Opened(fake)
    yield rig
    await rig.upstream.close()


def text_of(events: list[Any]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for event in events
        if isinstance(event, dict)
        for choice in event.get("choices") or ()
    )


@pytest.mark.parametrize("model", ["alpha", "claude"])
async def test_chunks_out_then_usage_then_done(opened: Opened, model: str) -> None:
    events = await opened.relayed(model)
    assert events[-1] == "[DONE]"
    assert text_of(events) == "echo: tell me about streams"
    usage_events = [e for e in events[:-1] if e.get("usage")]
    assert len(usage_events) == 1 and usage_events[0]["choices"] == []
    assert all(e["model"] == model for e in events[:-1])
    [row] = opened.rows
    assert row.success and row.model_used == model
    assert (row.tokens_in, row.tokens_out) == (
        usage_events[0]["usage"]["prompt_tokens"],
        usage_events[0]["usage"]["completion_tokens"],
    )
    [(completion, usage)] = opened.completed
    message = completion["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "echo: tell me about streams", "refusal": None}
    assert usage.tokens_out == row.tokens_out
    # Its headers left before the cost was known: the cost comes in the usage chunk and a comment.
    assert usage_events[0]["prism"] == {"cost_cents": round(row.cost_total_cents, 6), "saved_cents": 0.0}
    assert row.cost_total_cents > 0
    assert opened.comments == [f": prism cost_cents={row.cost_total_cents:.6f} saved_cents=0.000000"]


async def test_without_include_usage_no_usage_reaches_the_client(opened: Opened) -> None:
    events = await opened.relayed("alpha", include_usage=False)
    assert not any("usage" in e for e in events[:-1])
    assert opened.rows[0].tokens_out > 0  # the row still carries what was used


@pytest.mark.parametrize("model", ["alpha", "claude"])
async def test_a_stream_cut_midway_ends_with_an_error_event(
    opened: Opened, fake: FakeProvider, model: str
) -> None:
    fake.configure(opened.models[model].upstream_model, Behaviour(cut_after_chunks=2))
    events = await opened.relayed(model)
    assert events[-1]["error"]["code"] == "upstream_stream_error"
    assert "[DONE]" not in events
    assert text_of(events) == "echo: tell "  # what arrived before the cut was relayed
    [row] = opened.rows
    assert (row.success, row.status_code, row.error_code) == (False, 502, "upstream_stream_error")
    assert row.tokens_out > 0  # estimated from what was streamed, never zero
    assert opened.completed == []  # an interrupted answer is never cached


async def test_a_stall_midway_is_an_error_event(opened: Opened, fake: FakeProvider) -> None:
    fake.configure("alpha", Behaviour(stall_after_chunks=1, stall_ms=2000))
    events = await opened.relayed("alpha")
    assert events[-1]["error"]["code"] == "upstream_stream_error"
    assert "stalled" in events[-1]["error"]["message"]
    assert opened.rows[0].status_code == 502
