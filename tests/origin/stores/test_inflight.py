"""One shared call per key, waited on for a bounded time, never cancelled by a caller."""

import asyncio

import pytest

from origin.stores.inflight import Inflight


class Held:
    """A call that counts its starts and answers only once released."""

    def __init__(self) -> None:
        self.starts = 0
        self.finished = 0
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.starts += 1
        await self.release.wait()
        self.finished += 1
        return "answer"


async def test_concurrent_callers_share_one_call() -> None:
    inflight: Inflight[str, str] = Inflight()
    held = Held()
    waiting = [asyncio.ensure_future(inflight.run("k", held, timeout=5)) for _ in range(20)]
    await asyncio.sleep(0.01)
    held.release.set()
    assert await asyncio.gather(*waiting) == ["answer"] * 20
    assert held.starts == 1 and len(inflight) == 0


async def test_a_timeout_leaves_the_call_running_and_later_callers_do_not_wait_again() -> None:
    inflight: Inflight[str, str] = Inflight()
    held = Held()
    with pytest.raises(TimeoutError):
        await inflight.run("k", held, timeout=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):  # the deadline counts from the call's start: it has passed
        await inflight.run("k", held, timeout=0.05)
    assert loop.time() - started < 0.03
    assert held.starts == 1 and len(inflight) == 1
    held.release.set()
    await asyncio.sleep(0.01)
    assert held.finished == 1 and len(inflight) == 0
    assert await inflight.run("k", held, timeout=1) == "answer"  # a new call once the old one is done
    assert held.starts == 2


async def test_a_cancelled_caller_does_not_cancel_the_call() -> None:
    inflight: Inflight[str, str] = Inflight()
    held = Held()
    caller = asyncio.ensure_future(inflight.run("k", held, timeout=5))
    other = asyncio.ensure_future(inflight.run("k", held, timeout=5))
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.sleep(0.01)
    held.release.set()
    assert await other == "answer"
    assert caller.cancelled() and held.finished == 1


async def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    inflight: Inflight[str, str] = Inflight()
    calls = 0

    async def failing() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise ConnectionError("store away")

    results = await asyncio.gather(
        *(inflight.run("k", failing, timeout=1) for _ in range(3)), return_exceptions=True
    )
    assert [type(result) for result in results] == [ConnectionError] * 3 and calls == 1
    with pytest.raises(ConnectionError):
        await inflight.run("k", failing, timeout=1)
    assert calls == 2


async def test_a_caller_from_arrival_waits_its_own_timeout_on_the_running_call() -> None:
    inflight: Inflight[str, str] = Inflight()
    held = Held()
    with pytest.raises(TimeoutError):
        await inflight.run("k", held, timeout=0.05)
    patient = asyncio.ensure_future(inflight.run("k", held, timeout=1, from_arrival=True))
    await asyncio.sleep(0.1)
    held.release.set()
    assert await patient == "answer"
    assert held.starts == 1
