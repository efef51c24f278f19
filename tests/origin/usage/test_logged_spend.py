"""A budget rebuilt after Redis lost it counts this origin's rows still on their way to Postgres."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from origin.controls.limits.budget import SpendFilter
from origin.stores import controls, postgres
from origin.usage.logged_spend import logged_spend
from origin.usage.spool import Spool
from origin.usage.writer import UsageWriter
from tests.origin.usage.rows import make_row


async def test_the_rows_in_the_writers_queue_are_in_the_rebuilt_spend(
    pool: postgres.Pool, tmp_path: Path
) -> None:
    row = make_row(cost_total_cents=0.75, cost_provider_cents=0.75)
    rows, period = SpendFilter(project_id=row.project_id), datetime.now(UTC).strftime("%Y-%m")
    with Spool(tmp_path) as spool:
        writer = UsageWriter(pool, spool, flush_interval=3600, batch_size=1000)  # rows stay queued
        await writer.start()
        try:
            writer.submit(row)
            assert await controls.month_spend(pool, rows, period) == 0.0  # Postgres has not seen it yet
            async with asyncio.timeout(30):  # the flush writes now, not after the hour-long interval
                assert await logged_spend(pool, writer)(rows, period) == 0.75
        finally:
            await writer.stop()
