"""A budget's month as the usage log holds it, for rebuilding the budget after Redis lost it.

This origin's rows still in the writer's queue were counted in Redis before the loss but are not in
Postgres yet; the writer is flushed first, so the rebuild counts them (other origins' queues hold at
most one batch interval of rows each; rows spooled through a Postgres outage wait for their replay).
"""

from origin.controls.limits.budget import History, SpendFilter
from origin.stores import controls
from origin.stores.postgres import Pool
from origin.usage.writer import UsageWriter


def logged_spend(pool: Pool, writer: UsageWriter) -> History:
    async def spend(rows: SpendFilter, period: str) -> float:
        await writer.flush()
        return await controls.month_spend(pool, rows, period)

    return spend
