"""The one usage writer: rows leave the request path and reach Postgres in batches, or the spool.

``submit`` only queues. A consumer task inserts batches with one idempotent statement; when that
fails, or while the spool still holds rows (keeping their order and sparing a dead server), the
batch is spooled instead. A replay task drains the spool every ``retry_interval`` once Postgres
answers. Rows Postgres refuses outright (bad data) are set aside in the spool's ``rejected.jsonl``
so that one bad row cannot hold back the rest.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import asyncpg

from origin.stores.postgres import Pool
from origin.stores.sql import query
from origin.usage import row_json
from origin.usage.journal import Journal
from origin.usage.spool import Spool
from shared.usage import UsageRow

log = logging.getLogger("prism.usage")

_ROW_ERRORS: Final = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
_REPLAY_CHUNK: Final = 1000
_RELIEF_CHUNK: Final = 10_000


def insert_arguments(rows: Sequence[UsageRow]) -> list[str]:
    """The parameters of ``insert_usage_rows``: the rows as one JSON array, which Postgres reads into
    the table's row type (money as the exact decimals orjson writes, the shortest that round-trip).
    A fifth of the origin's CPU of one array per column, which asyncpg encoded value by value."""
    return [row_json.array(rows).decode()]


class UsageWriter:
    def __init__(
        self,
        pool: Pool,
        spool: Spool,
        *,
        journal: Journal | None = None,
        batch_size: int = 200,
        flush_interval: float = 0.05,
        retry_interval: float = 1.0,
        max_queue: int = 100_000,
        timeout: float = 10.0,
    ) -> None:
        self._pool = pool
        self._spool = spool
        self._journal = journal
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_interval = retry_interval
        self._max_queue = max_queue
        self._timeout = timeout
        self._replay_chunk = max(batch_size, _REPLAY_CHUNK)
        self._queue: deque[tuple[int, UsageRow]] = deque()
        self._in_flight: dict[int, int] = {}  # first sequence number of a batch → its row count
        self._next_seq = 0
        self._flush_until = 0  # rows before this sequence number are written without waiting
        self._wake = asyncio.Event()
        self._spooled = asyncio.Event()
        self._settled = asyncio.Condition()
        self._consumer: asyncio.Task[None] | None = None
        self._replayer: asyncio.Task[None] | None = None
        self._relief: asyncio.Task[None] | None = None
        self._resume: dict[Path, int] = {}
        self._closing = False
        self._stopped = False
        self._failing = False

    @property
    def queue_depth(self) -> int:
        """Rows in memory: neither in Postgres nor in the spool yet."""
        return len(self._queue) + sum(self._in_flight.values())

    @property
    def spool_size(self) -> int:
        return self._spool.size()

    async def start(self) -> None:
        if self._consumer is not None:
            raise RuntimeError("the usage writer is already started")
        if self._journal is not None:
            for leftover in self._journal.leftovers:
                await asyncio.to_thread(self._spool.adopt, leftover)
                log.warning(
                    "usage rows of a writer that died (%s) are replayed from the spool", leftover.name
                )
        self._consumer = asyncio.create_task(self._consume(), name="prism-usage-writer")
        self._replayer = asyncio.create_task(self._replay_forever(), name="prism-usage-replay")
        self._spooled.set()

    async def stop(self) -> None:
        """Insert what is queued, spool what Postgres does not take; the spool is left for later."""
        self._closing = True
        self._wake.set()
        if self._consumer is not None:
            await self._consumer
        self._stopped = True
        await self._relieve()
        if self._relief is not None:
            await self._relief
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
        if self._journal is not None:
            self._journal.release(self._oldest_pending())
            self._journal.close()

    def submit(self, row: UsageRow) -> None:
        """Queue a row (and journal it); never blocks, never raises, never drops."""
        if self._journal is not None:
            self._journal.append(self._next_seq, row)
        self._queue.append((self._next_seq, row))
        self._next_seq += 1
        depth = len(self._queue)
        if depth == 1 or depth >= self._batch_size:
            self._wake.set()
        if (depth > self._max_queue or self._stopped) and (self._relief is None or self._relief.done()):
            with contextlib.suppress(RuntimeError):  # no running loop: the row waits in the queue
                self._relief = asyncio.get_running_loop().create_task(self._relieve())

    async def flush(self) -> None:
        """Wait until every row submitted so far is in Postgres or in the spool (written now, not at
        the end of the batch interval)."""
        if self._consumer is None:
            raise RuntimeError("start the usage writer before flushing it")
        target = self._next_seq
        self._flush_until = max(self._flush_until, target)
        self._wake.set()
        async with self._settled:
            await self._settled.wait_for(lambda: self._oldest_pending() >= target)

    async def _consume(self) -> None:
        while self._queue or not self._closing:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            awaited = self._queue[0][0] < self._flush_until  # a flush waits for the oldest row
            if len(self._queue) < self._batch_size and not self._closing and not awaited:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_interval):
                        await self._wake.wait()
            if self._queue:
                first, rows = self._take(self._batch_size)
                await self._write(rows)
                await self._settle(first)

    async def _write(self, rows: list[UsageRow]) -> None:
        if self._spool.size() == 0:
            try:
                await self._store(rows)
                return
            except Exception as error:
                await self._postgres_failed(error, f"insert of {len(rows)} rows")
        await self._spool_rows(rows)

    async def _store(self, rows: Sequence[UsageRow]) -> None:
        """Insert rows, setting aside those Postgres refuses; any other error propagates."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._pool.execute(query("insert_usage_rows"), *insert_arguments(rows))
            return
        except _ROW_ERRORS as error:
            if len(rows) == 1:
                await self._reject(rows[0], error)
                return
        middle = len(rows) // 2
        await self._store(rows[:middle])
        await self._store(rows[middle:])

    async def _reject(self, row: UsageRow, error: Exception) -> None:
        await asyncio.to_thread(self._spool.reject, [row])
        log.error(
            "Postgres refused usage row %s (%s); set aside in %s",
            row.request_id,
            type(error).__name__,
            self._spool.rejected_path,
        )

    async def _spool_rows(self, rows: Sequence[UsageRow]) -> None:
        while True:
            try:
                await asyncio.to_thread(self._spool.append, rows)
            except OSError as error:
                log.error("cannot spool %d usage rows (%s); retrying", len(rows), error)
                await asyncio.sleep(self._retry_interval)
            except Exception:  # a row that cannot be serialized: a bug upstream; keep the writer alive
                ids = ", ".join(row.request_id for row in rows)
                log.exception("usage writer dropped %d rows it could not store: %s", len(rows), ids)
                return
            else:
                self._spooled.set()
                return

    async def _relieve(self) -> None:
        """Move the oldest queued rows straight to the spool when the queue is over its bound."""
        keep = 0 if self._stopped else self._max_queue // 2
        while len(self._queue) > keep:
            first, rows = self._take(min(len(self._queue) - keep, _RELIEF_CHUNK))
            log.warning("usage queue over its bound; spooling %d rows", len(rows))
            await self._spool_rows(rows)
            await self._settle(first)

    async def _replay_forever(self) -> None:
        while True:
            await self._spooled.wait()
            self._spooled.clear()
            while self._spool.size() > 0:
                try:
                    await self._replay()
                except Exception as error:
                    await self._postgres_failed(error, "spool replay")
                    await asyncio.sleep(self._retry_interval)

    async def _replay(self) -> None:
        while (segment := await asyncio.to_thread(self._spool.claim)) is not None:
            offset = self._resume.get(segment, 0)
            done = False
            while not done:
                chunk = await asyncio.to_thread(self._spool.read, segment, offset, self._replay_chunk)
                if chunk.rows:
                    await self._store(chunk.rows)
                offset, done = chunk.next_offset, chunk.done
                self._resume[segment] = offset
            await asyncio.to_thread(self._spool.commit, segment)
            del self._resume[segment]
            log.info("replayed spool segment %s", segment.name)
        if self._failing:
            log.info("Postgres answers again; the usage spool is drained")
            self._failing = False

    async def _postgres_failed(self, error: Exception, action: str) -> None:
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(
            level, "usage %s failed (%s: %s); rows wait in the spool", action, type(error).__name__, error
        )
        self._failing = True
        with contextlib.suppress(Exception):
            await self._pool.expire_connections()

    def _take(self, count: int) -> tuple[int, list[UsageRow]]:
        first = self._queue[0][0]
        rows = [self._queue.popleft()[1] for _ in range(min(count, len(self._queue)))]
        self._in_flight[first] = len(rows)
        return first, rows

    async def _settle(self, first: int) -> None:
        del self._in_flight[first]
        if self._journal is not None:
            self._journal.release(self._oldest_pending())
        async with self._settled:
            self._settled.notify_all()

    def _oldest_pending(self) -> int:
        return min(self._next_seq, self._queue[0][0] if self._queue else self._next_seq, *self._in_flight)
