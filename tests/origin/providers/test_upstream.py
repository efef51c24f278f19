"""``Upstream`` against the fake provider on a real socket: status failures, timeouts, streams, stalls."""

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from origin.config import Timeouts
from origin.providers.anthropic import AnthropicAdapter
from origin.providers.base import ModelConfig, Price, ProviderConfig, UpstreamRequest
from origin.providers.upstream import Upstream, UpstreamFailure
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.tasks import tasks_started

ADAPTER = AnthropicAdapter()
MODEL = ModelConfig("claude", "ant", "claude-up", Price(input=1.0, output=1.0))
HELLO = {"messages": [{"role": "user", "content": "hello"}]}


def provider(fake: FakeProvider) -> ProviderConfig:
    return ProviderConfig(name="ant", kind="anthropic", base_url=fake.url, api_key="sk-ant")


def request(fake: FakeProvider, **body: object) -> UpstreamRequest:
    return ADAPTER.chat_request({**HELLO, **body}, MODEL, provider(fake))


@pytest.fixture
async def upstream(fake: FakeProvider) -> AsyncIterator[Upstream]:
    sender = Upstream({"ant": provider(fake)}, Timeouts(connect=1.0, first_byte=0.5, idle=0.3))
    yield sender
    await sender.close()


async def test_a_200_is_its_json(upstream: Upstream, fake: FakeProvider) -> None:
    data = await upstream.complete("ant", request(fake), ADAPTER.error_message)
    assert data["type"] == "message" and data["content"][0]["text"] == "echo: hello"


@pytest.mark.parametrize(("status", "client_fault"), [(503, False), (529, False), (400, True), (413, True)])
async def test_a_status_failure_carries_the_status_and_the_upstream_message(
    upstream: Upstream, fake: FakeProvider, status: int, client_fault: bool
) -> None:
    fake.configure("claude-up", Behaviour(fail_times=1, fail_status=status))
    with pytest.raises(UpstreamFailure) as raised:
        await upstream.complete("ant", request(fake), ADAPTER.error_message)
    failure = raised.value
    assert (failure.kind, failure.status, failure.client_fault) == ("status", status, client_fault)
    assert failure.message and "sk-ant" not in failure.message
    assert failure.retryable(ADAPTER.retryable_statuses) is not client_fault


async def test_retry_after_is_read(upstream: Upstream, fake: FakeProvider) -> None:
    fake.configure("claude-up", Behaviour(fail_times=1, fail_status=429))
    with pytest.raises(UpstreamFailure) as raised:
        await upstream.complete("ant", request(fake), ADAPTER.error_message)
    assert raised.value.retry_after == 1.0


async def test_no_answer_in_time_is_a_timeout(upstream: Upstream, fake: FakeProvider) -> None:
    fake.configure("claude-up", Behaviour(latency_ms=2000))
    started = time.monotonic()
    with pytest.raises(UpstreamFailure) as raised:
        await upstream.complete("ant", request(fake), ADAPTER.error_message)
    assert raised.value.kind == "timeout" and time.monotonic() - started < 1.5


async def test_a_deadline_bounds_the_whole_call(upstream: Upstream, fake: FakeProvider) -> None:
    fake.configure("claude-up", Behaviour(latency_ms=400))
    started = time.monotonic()
    with pytest.raises(UpstreamFailure, match="did not answer"):
        await upstream.complete("ant", request(fake), ADAPTER.error_message, deadline=0.1)
    assert time.monotonic() - started < 0.35


async def test_a_closed_port_is_a_connect_failure(fake: FakeProvider) -> None:
    gone = ProviderConfig(name="gone", kind="anthropic", base_url="http://127.0.0.1:9")
    sender = Upstream({"gone": gone}, Timeouts(connect=1.0))
    try:
        with pytest.raises(UpstreamFailure) as raised:
            await sender.complete("gone", request(fake), ADAPTER.error_message)
    finally:
        await sender.close()
    assert raised.value.kind == "connect" and raised.value.retryable(frozenset())
    assert raised.value.message == "cannot connect to provider gone"  # the address is for the log only


async def test_a_stream_opens_at_its_first_event(upstream: Upstream, fake: FakeProvider) -> None:
    stream = await upstream.open_stream("ant", request(fake, stream=True), ADAPTER.error_message)
    try:
        assert json.loads(stream.first_event.data)["type"] == "message_start"
        kinds = [json.loads(event.data)["type"] async for event in stream.events()]
    finally:
        stream.close()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"


async def test_a_stream_read_to_its_end_stays_ended(upstream: Upstream, fake: FakeProvider) -> None:
    stream = await upstream.open_stream("ant", request(fake, stream=True), ADAPTER.error_message)
    try:
        batches = [batch async for batch in stream]
        again = [batch async for batch in stream]
    finally:
        stream.close()
    assert batches[0][0] is stream.first_event and again == []
    assert json.loads(batches[-1][-1].data)["type"] == "message_stop"


async def test_a_stream_left_at_its_first_batch_leaves_the_loop_nothing_to_close(
    upstream: Upstream, fake: FakeProvider
) -> None:
    stream = await upstream.open_stream("ant", request(fake, stream=True), ADAPTER.error_message)
    try:
        with tasks_started() as created:
            async for _ in stream:
                break  # as a relay does at the answer's last event
            await asyncio.sleep(0.01)  # an abandoned async generator's aclose() would be a task by now
    finally:
        stream.close()
    assert created == []


async def test_a_stream_with_no_first_event_in_time_is_a_timeout(
    upstream: Upstream, fake: FakeProvider
) -> None:
    fake.configure("claude-up", Behaviour(stall_before_first_byte_ms=2000))
    with pytest.raises(UpstreamFailure) as raised:
        await upstream.open_stream("ant", request(fake, stream=True), ADAPTER.error_message)
    assert raised.value.kind == "timeout"


async def test_a_stream_refused_with_a_status_fails_before_opening(
    upstream: Upstream, fake: FakeProvider
) -> None:
    fake.configure("claude-up", Behaviour(fail_times=1, fail_status=503))
    with pytest.raises(UpstreamFailure) as raised:
        await upstream.open_stream("ant", request(fake, stream=True), ADAPTER.error_message)
    assert (raised.value.kind, raised.value.status) == ("status", 503)


async def test_a_stall_after_opening_is_a_timeout(upstream: Upstream, fake: FakeProvider) -> None:
    fake.configure("claude-up", Behaviour(stall_after_chunks=1, stall_ms=2000))
    stream = await upstream.open_stream("ant", request(fake, stream=True), ADAPTER.error_message)
    seen = 0
    try:
        with pytest.raises(UpstreamFailure, match="stalled") as raised:
            async for _ in stream.events():
                seen += 1
    finally:
        stream.close()
    assert raised.value.kind == "timeout" and seen >= 2


async def test_closing_a_stream_drops_the_upstream_connection(upstream: Upstream, fake: FakeProvider) -> None:
    fake.configure("claude-up", Behaviour(chunk_delay_ms=200))
    stream = await upstream.open_stream("ant", request(fake, stream=True), ADAPTER.error_message)
    assert fake.active_streams == 1
    stream.close()
    for _ in range(50):
        if fake.active_streams == 0:
            break
        await asyncio.sleep(0.02)
    assert fake.active_streams == 0


@pytest.mark.parametrize(
    ("body", "ends"),
    [(b"data: " + b"x" * (1 << 20) * 9, False), (b"data: \xff\xfe\n\n", False), (b"data: \xff", True)],
    ids=["a line that never ends", "bytes that are not UTF-8", "a last line that is not UTF-8"],
)
async def test_an_unreadable_stream_is_a_protocol_failure(body: bytes, ends: bool) -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(body), 1 << 16):
            await response.write(body[start : start + (1 << 16)])
        if not ends:
            await asyncio.sleep(5)  # the line stays unfinished
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", stream)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    unreadable = ProviderConfig(
        name="ant", kind="anthropic", base_url=f"http://127.0.0.1:{port}", api_key="sk"
    )
    sender = Upstream({"ant": unreadable}, Timeouts(connect=1.0, first_byte=3.0, idle=3.0))
    try:
        with pytest.raises(UpstreamFailure) as raised:
            await sender.open_stream(
                "ant",
                ADAPTER.chat_request({**HELLO, "stream": True}, MODEL, unreadable),
                ADAPTER.error_message,
            )
        assert (raised.value.kind, raised.value.message) == (
            "protocol",
            "provider ant sent an unreadable stream",
        )
    finally:
        await sender.close()
        await runner.cleanup()
