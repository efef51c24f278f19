"""The real ``Dispatcher`` against the fake provider on a real socket: retries, fallback, breakers."""

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from origin.chat.routing import Route
from origin.config import BreakerConfig, GatewayConfig, Retries, Timeouts
from origin.http.errors import ApiError
from origin.ops.metrics import Metrics
from origin.providers.base import JSON, ModelConfig, Price, ProviderConfig, UpstreamRequest
from origin.providers.breakers import Breakers, BreakerState
from origin.providers.dispatch import Dispatcher
from origin.providers.upstream import Describe, Upstream
from tests.clock import Clock
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider

PRICE = Price(input=1.0, output=1.0)
HELLO = {"messages": [{"role": "user", "content": "hello"}]}


@dataclass
class Rig:
    fake: FakeProvider
    config: GatewayConfig
    breakers: Breakers
    clock: Clock
    dispatcher: Dispatcher
    metrics: Metrics
    slept: list[float] = field(default_factory=list)

    def route(self, *names: str) -> Route:
        return Route(tuple(self.config.models[name] for name in names), mode="balanced", task_type="chat")

    def open_circuit(self, name: str) -> None:
        """Trip ``name``'s breaker (threshold 1), then let the cooldown pass: the next call is the probe."""
        self.breakers.record_failure(name)
        assert self.breakers.state(name) is BreakerState.OPEN
        self.clock.now += 10
        assert self.breakers.state(name) is BreakerState.HALF_OPEN


def gateway(url: str, *, attempts: int = 2, first_byte: float = 5.0) -> GatewayConfig:
    providers = {
        "oai": ProviderConfig(name="oai", kind="openai", base_url=f"{url}/v1", api_key="sk-oai"),
        "ant": ProviderConfig(name="ant", kind="anthropic", base_url=url, api_key="sk-ant"),
    }
    models = {
        "alpha": ModelConfig("alpha", "oai", "alpha", PRICE),
        "beta": ModelConfig("beta", "oai", "beta", PRICE),
        "claude": ModelConfig("claude", "ant", "claude-up", PRICE),
    }
    return GatewayConfig(
        providers=providers,
        models=models,
        modes={"balanced": tuple(models)},
        timeouts=Timeouts(connect=2.0, first_byte=first_byte, idle=first_byte),
        retries=Retries(attempts=attempts, backoff_base=0.01, backoff_max=0.05),
        breaker=BreakerConfig(failure_threshold=1, cooldown_seconds=10),
    )


async def rig_for(fake: FakeProvider, **options: float) -> AsyncIterator[Rig]:
    config = gateway(fake.url, **options)  # type: ignore[arg-type]
    clock = Clock(0.0)
    breakers = Breakers(config.breaker, clock)
    upstream = Upstream(config.providers, config.timeouts)
    metrics = Metrics()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    dispatcher = Dispatcher(config, upstream, breakers, metrics, rng=random.Random(3), sleep=sleep)
    try:
        yield Rig(fake, config, breakers, clock, dispatcher, metrics, slept)
    finally:
        await upstream.close()


@pytest.fixture
async def rig(fake: FakeProvider) -> AsyncIterator[Rig]:
    async for built in rig_for(fake):
        yield built


async def test_a_retryable_status_is_retried_on_the_same_model(rig: Rig) -> None:
    rig.fake.configure("alpha", Behaviour(fail_times=1, fail_status=503))
    answered = await rig.dispatcher.complete(rig.route("alpha", "beta"), HELLO)
    assert answered.model.name == "alpha" and not answered.fallback
    assert rig.fake.count("alpha") == 2 and rig.fake.count("beta") == 0
    assert len(rig.slept) == 1 and 0 <= rig.slept[0] <= 0.05
    assert answered.result.response["choices"][0]["message"]["content"] == "echo: hello"


async def test_anthropic_overloaded_is_retried_but_not_elsewhere(rig: Rig) -> None:
    rig.fake.configure("claude-up", Behaviour(fail_times=1, fail_status=529))
    answered = await rig.dispatcher.complete(rig.route("claude"), HELLO)
    assert answered.model.name == "claude" and rig.fake.count("claude-up") == 2

    rig.fake.configure("alpha", Behaviour(fail_times=1, fail_status=529))
    answered = await rig.dispatcher.complete(rig.route("alpha", "beta"), HELLO)
    assert answered.model.name == "beta" and answered.fallback
    assert rig.fake.count("alpha") == 1  # 529 means nothing special on the OpenAI wire


async def test_falls_back_in_route_order_after_the_retries(rig: Rig) -> None:
    rig.fake.configure("alpha", Behaviour(fail_times=2, fail_status=500))
    answered = await rig.dispatcher.complete(rig.route("alpha", "claude", "beta"), HELLO)
    assert answered.model.name == "claude" and answered.fallback
    assert [r.model for r in rig.fake.requests] == ["alpha", "alpha", "claude-up"]
    assert rig.breakers.state("alpha") is BreakerState.OPEN
    fallbacks = rig.metrics.registry.get_sample_value("prism_fallbacks_total", {"model": "claude"})
    assert fallbacks == 1


async def test_an_open_circuit_is_skipped_and_all_open_is_unavailable(rig: Rig) -> None:
    rig.breakers.record_failure("alpha")
    answered = await rig.dispatcher.complete(rig.route("alpha", "beta"), HELLO)
    assert answered.model.name == "beta" and not answered.fallback  # skipped, never tried
    assert rig.fake.count("alpha") == 0
    rig.breakers.record_failure("beta")
    with pytest.raises(ApiError) as raised:
        await rig.dispatcher.complete(rig.route("alpha", "beta"), HELLO)
    assert (raised.value.status, raised.value.code) == (503, "upstream_unavailable")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(500, (502, "upstream_error")), (429, (503, "upstream_rate_limited"))],
)
async def test_exhausted_candidates_name_the_last_failure(
    rig: Rig, status: int, expected: tuple[int, str]
) -> None:
    rig.fake.configure("*", Behaviour(fail_times=10, fail_status=status))
    with pytest.raises(ApiError) as raised:
        await rig.dispatcher.complete(rig.route("alpha"), HELLO)
    assert (raised.value.status, raised.value.code) == expected
    assert rig.fake.count("alpha") == 2


async def test_exhausted_by_timeouts_is_a_504(fake: FakeProvider) -> None:
    async for rig in rig_for(fake, attempts=1, first_byte=0.2):
        fake.configure("alpha", Behaviour(latency_ms=1000))
        with pytest.raises(ApiError) as raised:
            await rig.dispatcher.complete(rig.route("alpha"), HELLO)
        assert (raised.value.status, raised.value.code) == (504, "upstream_timeout")


async def test_a_client_fault_is_a_400_without_fallback(rig: Rig) -> None:
    rig.fake.configure("alpha", Behaviour(fail_times=1, fail_status=400))
    with pytest.raises(ApiError) as raised:
        await rig.dispatcher.complete(rig.route("alpha", "beta"), HELLO)
    assert (raised.value.status, raised.value.code) == (400, "upstream_rejected_request")
    assert rig.fake.count("beta") == 0 and rig.breakers.state("alpha") is BreakerState.CLOSED


async def test_a_probe_that_succeeds_closes_the_circuit(rig: Rig) -> None:
    rig.open_circuit("alpha")
    await rig.dispatcher.complete(rig.route("alpha"), HELLO)
    assert rig.breakers.state("alpha") is BreakerState.CLOSED


async def test_a_probe_that_fails_upstream_reopens_the_circuit(rig: Rig) -> None:
    rig.open_circuit("alpha")
    rig.fake.configure("alpha", Behaviour(fail_times=2, fail_status=503))
    await rig.dispatcher.complete(rig.route("alpha", "beta"), HELLO)
    assert rig.breakers.state("alpha") is BreakerState.OPEN


async def until_received(fake: FakeProvider, model: str) -> None:
    async with asyncio.timeout(5):
        for _ in iter(lambda: fake.count(model), 1):
            await asyncio.sleep(0.01)


def assert_probe_given_back(rig: Rig, name: str) -> None:
    """Not judged (still half-open) and claimable again."""
    assert rig.breakers.state(name) is BreakerState.HALF_OPEN
    assert rig.breakers.allow(name)


async def test_a_probe_ending_in_a_client_error_is_given_back(rig: Rig) -> None:
    rig.open_circuit("alpha")
    rig.fake.configure("alpha", Behaviour(fail_times=1, fail_status=400))
    with pytest.raises(ApiError) as raised:
        await rig.dispatcher.complete(rig.route("alpha"), HELLO)
    assert raised.value.code == "upstream_rejected_request"
    assert_probe_given_back(rig, "alpha")


async def test_a_probe_ending_in_an_adapter_error_is_given_back(rig: Rig) -> None:
    rig.open_circuit("claude")
    with pytest.raises(ApiError) as raised:
        await rig.dispatcher.complete(rig.route("claude"), {**HELLO, "n": 2})
    assert raised.value.status == 400 and rig.fake.count() == 0
    assert_probe_given_back(rig, "claude")


async def test_a_probe_ending_in_an_unexpected_exception_is_given_back(rig: Rig) -> None:
    rig.open_circuit("alpha")
    broken = Dispatcher(rig.config, _BrokenUpstream(rig.config), rig.breakers, rig.metrics)
    with pytest.raises(KeyError):
        await broken.complete(rig.route("alpha"), HELLO)
    assert_probe_given_back(rig, "alpha")


class _BrokenUpstream(Upstream):
    """An upstream whose answer trips the adapter (a bug path, not an upstream failure)."""

    def __init__(self, config: GatewayConfig) -> None:
        super().__init__(config.providers, config.timeouts)

    async def complete(
        self, provider: str, request: UpstreamRequest, describe: Describe, *, deadline: float | None = None
    ) -> JSON:
        raise KeyError("choices")


async def test_a_cancelled_probe_is_given_back(rig: Rig) -> None:
    rig.open_circuit("alpha")
    rig.fake.configure("alpha", Behaviour(latency_ms=5000))
    task = asyncio.create_task(rig.dispatcher.complete(rig.route("alpha"), HELLO))
    await until_received(rig.fake, "alpha")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_probe_given_back(rig, "alpha")


async def test_a_cancelled_stream_open_gives_the_probe_back(rig: Rig) -> None:
    rig.open_circuit("claude")
    rig.fake.configure("claude-up", Behaviour(stall_before_first_byte_ms=5000))
    task = asyncio.create_task(rig.dispatcher.open_stream(rig.route("claude"), HELLO, "chatcmpl-1", 1))
    await until_received(rig.fake, "claude-up")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_probe_given_back(rig, "claude")


async def test_an_unhonoured_field_is_a_400_naming_it(rig: Rig) -> None:
    with pytest.raises(ApiError) as raised:
        await rig.dispatcher.complete(rig.route("claude", "alpha"), {**HELLO, "seed": 7})
    error = raised.value
    assert (error.status, error.code, error.param) == (400, "unsupported_parameter", "seed")
    assert rig.fake.count() == 0  # no fallback to a model that would honour it: the client must choose


async def test_json_mode_through_anthropic_answers_json_content(rig: Rig) -> None:
    body = {**HELLO, "response_format": {"type": "json_object"}}
    answered = await rig.dispatcher.complete(rig.route("claude"), body)
    [choice] = answered.result.response["choices"]
    assert json.loads(choice["message"]["content"]) == {"input": "hello"}
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    sent = rig.fake.requests[-1].json
    assert sent is not None and sent["tool_choice"] == {"type": "tool", "name": "prism_response_format"}
