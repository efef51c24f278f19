"""Every server is measured the same way: one warm-up, then the measured runs, at one connection count."""

import asyncio
import os
from dataclasses import dataclass, field

from bench import repeated
from bench.load import Request
from bench.result import LoadResult
from bench.stack import Endpoint, Stack
from tests.fakes.provider import FakeProvider


@dataclass
class Recording:
    """A generator that answers ``requests`` per run and remembers every run it was asked for."""

    requests: int = 500
    socket_errors: int = 0
    calls: list[tuple[int, float]] = field(default_factory=list)
    name: str = "recording"

    def run(self, request: Request, *, connections: int, seconds: float) -> LoadResult:
        self.calls.append((connections, seconds))
        return LoadResult(self.requests, seconds, 1.0, 2.0, socket_errors=self.socket_errors)


async def measured(load: Recording, plan: repeated.Plan) -> repeated.Measured:
    async with FakeProvider(seed=4) as fake:
        endpoint = Endpoint(f"{fake.url}/v1/chat/completions", "Bearer bench")
        stack = Stack(endpoint, endpoint, fake.url, os.getpid(), os.getpid(), {})
        request = Request(endpoint.url, {"model": "m", "messages": []}, {})
        # The fake answers on this loop; the bench's blocking calls go to a thread.
        return await asyncio.to_thread(repeated.measure, load, stack, request, 32, plan, os.getpid())


async def test_one_warm_up_then_the_repeats_all_at_the_same_connection_count() -> None:
    load = Recording()
    result = await measured(load, repeated.Plan(warmup=0.5, duration=2.0, repeats=3))
    assert load.calls == [(32, 0.5), (32, 2.0), (32, 2.0), (32, 2.0)]
    assert result.warmup == LoadResult(500, 0.5, 1.0, 2.0)
    assert len(result.runs.results) == 3
    assert result.answered == 2000
    assert result.unanswered_at_most == 4 * 32


async def test_without_warm_up_only_the_measured_runs_count() -> None:
    load = Recording(socket_errors=2)
    result = await measured(load, repeated.Plan(warmup=0, duration=2.0, repeats=2))
    assert load.calls == [(32, 2.0), (32, 2.0)]
    assert result.warmup is None
    assert result.answered == 1000
    assert result.unanswered_at_most == 2 * (32 + 2)
