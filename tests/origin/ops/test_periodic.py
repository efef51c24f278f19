"""Periodic work: run at start and every interval, a failure retried sooner, stopped for good."""

import asyncio

from origin.ops.periodic import Periodic


async def test_work_runs_at_start_again_soon_after_a_failure_and_not_after_stop() -> None:
    runs: list[float] = []
    third = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def work() -> None:
        runs.append(loop.time())
        if len(runs) == 3:
            third.set()
        if len(runs) == 1:
            raise ConnectionError("Postgres is away")

    periodic = Periodic("test-work", work, every=1.0, retry_after=0.01)
    periodic.start()
    await asyncio.wait_for(third.wait(), 30)
    await periodic.stop()
    await asyncio.sleep(1.2)
    assert len(runs) == 3
    assert runs[2] - runs[1] >= 0.99  # a success waits the whole interval
    assert runs[1] - runs[0] < runs[2] - runs[1]  # a failure is retried sooner
