"""``usage_logs``' month partitions: made ahead of the rows that will fill them, dropped past retention.

A row whose month has no partition lands in the default partition and is moved when its month's
partition is made, so being late here loses nothing; making them ahead keeps the default empty.
"""

import logging
from datetime import UTC, datetime
from typing import Final

from origin.stores.postgres import Pool
from origin.stores.sql import query

log = logging.getLogger("prism.usage")

MONTHS_AHEAD: Final = 2
CHECK_SECONDS: Final = 3600.0


async def make_ahead(pool: Pool, now: datetime, months: int = MONTHS_AHEAD) -> list[str]:
    """Make the partitions of ``now``'s month and the ``months`` after it; the names made now."""
    return [row["made"] for row in await pool.fetch(query("make_usage_partitions"), now, months)]


async def drop_expired(pool: Pool, now: datetime, retention_months: int) -> list[str]:
    """Drop the partitions whose rows are all more than ``retention_months`` months old."""
    return [row["dropped"] for row in await pool.fetch(query("drop_usage_partitions"), now, retention_months)]


async def keep(pool: Pool, retention_months: int, now: datetime | None = None) -> tuple[list[str], list[str]]:
    """What each instance does now and then, and ``prism migrate`` too: partitions made ahead, expired
    ones dropped (retention 0: none). The names made and dropped."""
    now = now or datetime.now(UTC)
    made = await make_ahead(pool, now)
    if made:
        log.info("made usage partitions %s", ", ".join(made))
    dropped = await drop_expired(pool, now, retention_months) if retention_months > 0 else []
    if dropped:
        log.info("dropped usage partitions %s (retention %d months)", ", ".join(dropped), retention_months)
    return made, dropped
