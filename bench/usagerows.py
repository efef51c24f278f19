"""Usage rows against requests: the rows Postgres holds for the bench's key, once the writer has settled.

Prism writes one row for every request it handles. The generator counts the answers it read in full;
when a run ends it cuts off at most one request per connection, which Prism still records (answered,
or 499), and a socket error may hide one more. So the rows written during some runs match their
requests when ``answered <= rows <= answered + unanswered_at_most``; fewer rows means some were lost.
"""

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import asyncpg

from bench.repeated import Measured
from bench.stack import Stack, StackError
from origin.settings import Settings
from origin.stores import postgres
from shared.keys import key_hash, parse_bearer

# Four of the writer's 50 ms flush intervals without a new row: it has settled.
_POLL_SECONDS: Final = 0.2
# Past the spool's 1 s replay interval: a row later than this is a row lost.
_SETTLE_SECONDS: Final = 5.0
_COUNT: Final = "SELECT count(*) FROM usage_logs WHERE project_id = $1 AND key_id = $2 AND created_at >= $3"


@dataclass(frozen=True, slots=True)
class UsageCount:
    rows: int
    answered: int
    unanswered_at_most: int

    @property
    def matches(self) -> bool:
        return self.answered <= self.rows <= self.answered + self.unanswered_at_most

    def __add__(self, other: "UsageCount") -> "UsageCount":
        return UsageCount(
            self.rows + other.rows,
            self.answered + other.answered,
            self.unanswered_at_most + other.unanswered_at_most,
        )

    def describe(self) -> str:
        least, most = self.answered, self.answered + self.unanswered_at_most
        return f"{self.rows:,} usage rows for {least:,} answered requests (expected {least:,} to {most:,})"


class UsageRows:
    """Counts the rows written for one key from the moment it is made."""

    def __init__(self, database_url: str, hashed_key: str) -> None:
        self._database_url = database_url
        self._hashed_key = hashed_key
        self._since = datetime.now(UTC)

    @classmethod
    def of(cls, stack: Stack) -> "UsageRows":
        """The rows of the key the stack's Prism requests carry, in the database its origin writes to."""
        settings = Settings.from_env(stack.env)
        key = parse_bearer(stack.prism.authorization) or ""
        return cls(settings.database_url, key_hash(key, settings.key_pepper))

    def count(self) -> int:
        return asyncio.run(self._count(at_least=None))

    def settled(self, at_least: int) -> int:
        """The count once it has reached ``at_least`` and stopped growing, or after ``_SETTLE_SECONDS``."""
        return asyncio.run(self._count(at_least))

    def written_since(self, before: int, measured: Iterable[Measured]) -> UsageCount:
        """The rows written since the count was ``before``, against the requests of ``measured``."""
        runs = list(measured)
        answered = sum(one.answered for one in runs)
        rows = self.settled(before + answered) - before
        return UsageCount(rows, answered, sum(one.unanswered_at_most for one in runs))

    async def _count(self, at_least: int | None) -> int:
        try:
            pool = await postgres.create_pool(self._database_url, max_size=1)
            try:
                return await self._poll(pool, at_least)
            finally:
                await pool.close()
        except asyncpg.PostgresError as error:
            raise StackError(f"counting usage rows: {error}") from None

    async def _poll(self, pool: postgres.Pool, at_least: int | None) -> int:
        record = await postgres.find_key(pool, self._hashed_key)
        if record is None:
            raise StackError("counting usage rows: the bench's key is not in Postgres")
        arguments = (record.project_id, record.key_id, self._since)
        count: int = await pool.fetchval(_COUNT, *arguments)
        deadline = time.monotonic() + _SETTLE_SECONDS
        while at_least is not None and time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
            latest: int = await pool.fetchval(_COUNT, *arguments)
            if latest == count and latest >= at_least:
                break
            count = latest
        return count
