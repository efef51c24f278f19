"""Retries, fallback, breakers, timeouts and broken streams, through a real origin."""

import asyncio

import aiohttp
import openai
import pytest

from origin.providers.breakers import BreakerState
from origin.stores import postgres
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, usage_row

HELLO = [{"role": "user", "content": "one two three four five six"}]


async def test_retry_then_success_on_same_model(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    fake.configure("flaky", Behaviour(fail_times=1, fail_status=503))
    raw = await client(origin, api_key).chat.completions.with_raw_response.create(
        model="flaky", messages=HELLO
    )
    assert raw.headers["x-prism-model"] == "flaky"
    assert fake.count("flaky") == 2


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_fallback_after_retries(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider, status: int
) -> None:
    fake.configure("flaky", Behaviour(fail_times=2, fail_status=status))
    raw = await client(origin, api_key).chat.completions.with_raw_response.create(
        model="flaky", messages=HELLO
    )
    assert raw.headers["x-prism-model"] == "beta"
    assert (fake.count("flaky"), fake.count("beta")) == (2, 1)
    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert row["model_used"] == "beta" and row["success"]
    origin.state.breakers.record_success("flaky")


async def test_timeout_before_first_byte_falls_back(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    fake.configure("flaky", Behaviour(stall_before_first_byte_ms=2000))
    raw = await client(origin, api_key).chat.completions.with_raw_response.create(
        model="flaky", messages=HELLO
    )
    assert raw.headers["x-prism-model"] == "beta"
    origin.state.breakers.record_success("flaky")


@pytest.mark.parametrize(
    ("behaviour", "error", "status", "code"),
    [
        (Behaviour(fail_times=9, fail_status=500), openai.InternalServerError, 502, "upstream_error"),
        (Behaviour(fail_times=9, fail_status=429), openai.InternalServerError, 503, "upstream_rate_limited"),
        (Behaviour(stall_before_first_byte_ms=2000), openai.InternalServerError, 504, "upstream_timeout"),
    ],
)
async def test_exhausted_candidates_map_to_5xx(
    origin: RunningOrigin,
    api_key: str,
    pool: postgres.Pool,
    fake: FakeProvider,
    behaviour: Behaviour,
    error: type[Exception],
    status: int,
    code: str,
) -> None:
    fake.configure("lonely", behaviour)
    with pytest.raises(error) as caught:
        await client(origin, api_key).chat.completions.create(model="lonely", messages=HELLO)
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status and caught.value.code == code
    row = await usage_row(origin, pool, caught.value.response.headers["x-prism-request-id"])
    assert (row["success"], row["status_code"], row["error_code"]) == (False, status, code)
    origin.state.breakers.record_success("lonely")


async def test_dead_provider_is_a_connect_failure_then_fallback_or_502(
    origin: RunningOrigin, api_key: str
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await client(origin, api_key).chat.completions.create(model="dead", messages=HELLO)
    assert caught.value.status_code == 502 and "connect" in caught.value.message
    origin.state.breakers.record_success("dead")


async def test_breaker_opens_skips_and_recovers(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    fake.configure("breaker", Behaviour(fail_times=100, fail_status=500))
    prism = client(origin, api_key)
    for _ in range(2):
        raw = await prism.chat.completions.with_raw_response.create(model="breaker", messages=HELLO)
        assert raw.headers["x-prism-model"] == "beta"
    assert origin.state.breakers.state("breaker") is BreakerState.OPEN
    calls = fake.count("breaker")
    raw = await prism.chat.completions.with_raw_response.create(model="breaker", messages=HELLO)
    assert raw.headers["x-prism-model"] == "beta" and fake.count("breaker") == calls  # skipped while open

    fake.configure("breaker", Behaviour())
    await asyncio.sleep(0.6)  # cooldown: one probe goes through and closes the circuit
    raw = await prism.chat.completions.with_raw_response.create(model="breaker", messages=HELLO)
    assert raw.headers["x-prism-model"] == "breaker"
    assert origin.state.breakers.state("breaker") is BreakerState.CLOSED


async def test_mid_stream_cut_sends_error_event_and_records_partial_row(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider
) -> None:
    fake.configure("lonely", Behaviour(cut_after_chunks=2))
    raw = await client(origin, api_key).chat.completions.with_raw_response.create(
        model="lonely",
        messages=HELLO,
        stream=True,
    )
    received = ""
    with pytest.raises(openai.APIError):
        async for chunk in raw.parse():
            received += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert received  # the first chunks did arrive: no fallback after the first byte
    assert fake.count("beta") == 0
    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert (row["success"], row["error_code"]) == (False, "upstream_stream_error")
    assert row["tokens_out"] > 0 and row["was_streaming"]


async def test_mid_stream_stall_hits_the_idle_timeout(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider
) -> None:
    fake.configure("lonely", Behaviour(stall_after_chunks=1, stall_ms=3000))
    stream = await client(origin, api_key).chat.completions.create(
        model="lonely", messages=HELLO, stream=True
    )
    with pytest.raises(openai.APIError, match="stalled"):
        async for _ in stream:
            pass


async def test_slow_but_healthy_stream_is_not_cut(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    # 6 chunks 0.3 s apart: 1.8 s in total, longer than every per-attempt timeout, each gap shorter than idle.
    fake.configure("lonely", Behaviour(chunk_delay_ms=300, reply="a b c d e f"))
    stream = await client(origin, api_key).chat.completions.create(
        model="lonely", messages=HELLO, stream=True
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text == "a b c d e f"


async def test_client_disconnect_cancels_upstream_and_keeps_the_row(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider
) -> None:
    fake.configure("lonely", Behaviour(chunk_delay_ms=100, reply=" ".join(["word"] * 50)))
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            origin.url + "/v1/chat/completions",
            json={"model": "lonely", "messages": HELLO, "stream": True},
            headers={"Authorization": f"Bearer {api_key}"},
        )
        request_id = response.headers["x-prism-request-id"]
        await response.content.readline()
        response.close()
    for _ in range(50):
        if fake.cancelled_streams >= 1:
            break
        await asyncio.sleep(0.05)
    assert fake.cancelled_streams == 1
    row = await usage_row(origin, pool, request_id)
    assert (row["success"], row["error_code"]) == (False, "client_disconnected")
