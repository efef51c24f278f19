import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from origin.stores import postgres
from origin.stores.sql import query
from origin.usage.spool import Spool
from origin.usage.writer import UsageWriter
from shared.usage import COLUMNS, UsageRow
from tests.origin.usage.rows import COUNT_IDS, make_row
from tests.pgcluster import TempPostgres


async def count(pool: Any, rows: Sequence[UsageRow]) -> int:
    found: int = await pool.fetchval(COUNT_IDS, [row.request_id for row in rows])
    return found


class CountingPool:
    """The real pool, counting the statements the writer sends."""

    def __init__(self, pool: postgres.Pool) -> None:
        self.pool = pool
        self.executes = 0

    async def execute(self, sql: str, *args: Any, **options: Any) -> str:
        self.executes += 1
        status: str = await self.pool.execute(sql, *args, **options)
        return status

    async def expire_connections(self) -> None:
        await self.pool.expire_connections()


class RecordingSpool(Spool):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.appended: list[UsageRow] = []

    def append(self, rows: Sequence[UsageRow]) -> None:
        super().append(rows)
        self.appended += rows


@asynccontextmanager
async def running(pool: Any, spool: Spool, **options: Any) -> AsyncIterator[UsageWriter]:
    writer = UsageWriter(pool, spool, **options)
    await writer.start()
    try:
        yield writer
    finally:
        await writer.stop()


async def drained(writer: UsageWriter) -> None:
    """Everything submitted is flushed and the spool is replayed (within 10 s)."""
    await writer.flush()
    for _ in range(500):
        if writer.spool_size == 0:
            break
        await asyncio.sleep(0.02)
    assert writer.spool_size == 0 and writer.queue_depth == 0


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool") as spool:
        yield spool


@pytest.fixture
async def temp_pool(temp_pg: TempPostgres) -> AsyncIterator[postgres.Pool]:
    if not temp_pg.running:
        await asyncio.to_thread(temp_pg.start)
    pool = await postgres.create_pool(temp_pg.url, min_size=0, max_size=4)
    yield pool
    if not temp_pg.running:
        await asyncio.to_thread(temp_pg.start)
    await pool.close()


async def test_insert_query_columns_match_the_usage_row(pool: postgres.Pool) -> None:
    sql = query("insert_usage_rows")
    listed = re.search(r"INSERT INTO usage_logs \(([^)]*)\)", sql)
    assert listed is not None
    assert tuple(name.strip() for name in listed.group(1).split(",")) == COLUMNS
    selected = re.search(r"SELECT([^;]*)FROM json_populate_recordset", sql)
    assert selected is not None
    assert tuple(name.strip() for name in selected.group(1).split(",")) == COLUMNS
    table = await pool.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'usage_logs'"
    )
    assert {row["column_name"] for row in table} == set(COLUMNS)


async def test_many_submits_are_inserted_in_few_batches(pool: postgres.Pool, spool: Spool) -> None:
    counting = CountingPool(pool)
    rows = [make_row() for _ in range(1000)]
    async with running(counting, spool, batch_size=200) as writer:
        for row in rows:
            writer.submit(row)
        assert writer.queue_depth == 1000
        await writer.flush()
        assert writer.queue_depth == 0 and writer.spool_size == 0
        assert await count(pool, rows) == 1000
        assert counting.executes == 5

        trickle = [make_row() for _ in range(20)]
        for row in trickle:
            writer.submit(row)
            await asyncio.sleep(0)
        await writer.flush()
        assert await count(pool, trickle) == 20
        assert counting.executes == 6


async def test_every_column_round_trips_and_sub_cent_costs_are_exact(
    pool: postgres.Pool, spool: Spool
) -> None:
    row = make_row(
        mode="cheap",
        task_type="chat",
        model_used="gpt-4o-mini",
        provider="openai",
        tokens_in=12,
        tokens_out=34,
        tokens_cached_in=5,
        cost_provider_cents=0.0031,
        cost_total_cents=0.1 + 0.2,
        latency_ms=87,
        was_streaming=True,
        success=False,
        status_code=502,
        error_code="upstream_error",
        session_id="s-1",
        request_tags={"team": "search"},
        cache_status="hit-semantic",
        cache_saved_cents=12345.0000000007,
        edge_region="fra",
    )
    async with running(pool, spool) as writer:
        writer.submit(row)
        await writer.flush()
    stored = await pool.fetchrow(query("usage_by_request"), row.request_id)
    assert stored is not None
    assert stored["cost_provider_cents"] == Decimal("0.0031")
    assert stored["cost_total_cents"] == Decimal("0.3")
    assert stored["cache_saved_cents"] == Decimal("12345.0000000007")
    for name in COLUMNS:
        value = stored[name]
        if name in {"org_id", "project_id", "key_id", "request_id"}:
            value = str(value)
        elif name == "request_tags":
            value = json.loads(value)
        elif name.endswith("_cents"):
            continue
        assert value == getattr(row, name), name


async def test_inserts_are_idempotent_on_request_id(pool: postgres.Pool, tmp_path: Path) -> None:
    row = make_row(cost_total_cents=1.5)
    with Spool(tmp_path) as spool:
        async with running(pool, spool) as writer:
            writer.submit(row)
            writer.submit(row)
            await writer.flush()
            writer.submit(row)
            await writer.flush()
        assert await count(pool, [row]) == 1

        spool.append([row, row])
        async with running(pool, spool) as writer:
            await drained(writer)
        assert spool.size() == 0
        assert not spool.rejected_path.exists(), "a duplicate is not an error"
    assert await count(pool, [row]) == 1


@pytest.mark.parametrize(
    "bad_field",
    [{"org_id": "not-a-uuid"}, {"model_used": "nul\x00in text"}, {"tokens_in": 2**40}, {"tokens_out": 2**70}],
    ids=["not-a-uuid", "nul-character", "past-integer", "past-64-bits"],
)
async def test_a_bad_row_is_set_aside_and_does_not_block_the_rest(
    pool: postgres.Pool, spool: Spool, caplog: pytest.LogCaptureFixture, bad_field: dict[str, Any]
) -> None:
    good = [make_row() for _ in range(9)]
    bad = make_row(**bad_field)
    async with running(pool, spool) as writer:
        for row in [*good[:4], bad, *good[4:]]:
            writer.submit(row)
        await drained(writer)
    assert await count(pool, good) == 9
    rejected = spool.rejected_path.read_text().splitlines()
    assert [UsageRow.from_wire(line).request_id for line in rejected] == [bad.request_id]
    assert bad.request_id in caplog.text and "not-a-uuid" not in caplog.text


async def test_an_overfull_queue_spills_to_the_spool_without_dropping(
    pool: postgres.Pool, tmp_path: Path
) -> None:
    rows = [make_row() for _ in range(300)]
    with RecordingSpool(tmp_path) as spool:
        async with running(pool, spool, max_queue=20, retry_interval=0.05) as writer:
            for row in rows:
                writer.submit(row)
            await drained(writer)
        assert len(spool.appended) >= 50, "rows over the bound go to the spool, Postgres being up or not"
    assert await count(pool, rows) == 300


async def test_rows_wait_in_the_spool_while_postgres_is_down(
    temp_pg: TempPostgres, temp_pool: postgres.Pool, spool: Spool
) -> None:
    await asyncio.to_thread(temp_pg.stop)
    rows = [make_row() for _ in range(50)]
    async with running(temp_pool, spool, retry_interval=0.05) as writer:
        for row in rows:
            writer.submit(row)
        await writer.flush()
        assert writer.spool_size == 50
        await asyncio.sleep(0.2)
        assert writer.spool_size == 50

        await asyncio.to_thread(temp_pg.start)
        await drained(writer)
    assert await count(temp_pool, rows) == 50


async def test_no_row_is_lost_when_postgres_restarts_under_load(
    temp_pg: TempPostgres, temp_pool: postgres.Pool, spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    submitted: list[UsageRow] = []
    spooled_at_most = 0

    async def client() -> None:
        for _ in range(200):
            row = make_row(cost_total_cents=0.0001)
            writer.submit(row)
            submitted.append(row)
            await asyncio.sleep(0.01)

    async def restart() -> None:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(temp_pg.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(temp_pg.start)

    async def watch() -> None:
        nonlocal spooled_at_most
        while True:
            spooled_at_most = max(spooled_at_most, writer.spool_size)
            await asyncio.sleep(0.01)

    caplog.set_level(logging.INFO, logger="prism.usage")
    async with running(temp_pool, spool, batch_size=50, retry_interval=0.1) as writer:
        watcher = asyncio.create_task(watch())
        await asyncio.gather(restart(), *(client() for _ in range(10)))
        await drained(writer)
        watcher.cancel()
    assert spooled_at_most > 100, "the outage should have sent rows to the spool"
    assert "Postgres answers again" in caplog.text
    assert not spool.rejected_path.exists()

    ids = [row.request_id for row in submitted]
    assert len(set(ids)) == 2000
    conn = await asyncpg.connect(temp_pg.url)
    try:
        stored = await conn.fetch("SELECT request_id FROM usage_logs WHERE request_id = ANY($1::uuid[])", ids)
        total = await conn.fetchval(
            "SELECT sum(cost_total_cents) FROM usage_logs WHERE request_id = ANY($1)", ids
        )
    finally:
        await conn.close()
    assert sorted(str(row["request_id"]) for row in stored) == sorted(ids)
    assert total == Decimal("0.2")


async def test_stop_while_postgres_is_down_spools_and_a_later_writer_replays(
    temp_pg: TempPostgres, temp_pool: postgres.Pool, tmp_path: Path
) -> None:
    before = [make_row() for _ in range(10)]
    during = [make_row() for _ in range(100)]
    spool = Spool(tmp_path)
    writer = UsageWriter(temp_pool, spool, retry_interval=0.05)
    await writer.start()
    for row in before:
        writer.submit(row)
    await writer.flush()
    assert await count(temp_pool, before) == 10

    await asyncio.to_thread(temp_pg.stop)
    for row in during:
        writer.submit(row)
    await writer.stop()
    assert writer.queue_depth == 0
    assert spool.size() == 100
    spool.close()

    await asyncio.to_thread(temp_pg.start)
    with Spool(tmp_path) as reopened:
        assert reopened.size() == 100
        async with running(temp_pool, reopened, retry_interval=0.05) as later:
            await drained(later)
    assert await count(temp_pool, before + during) == 110


async def test_a_restart_between_batches_leaves_dead_connections_behind_harmlessly(
    temp_pg: TempPostgres, temp_pool: postgres.Pool, spool: Spool
) -> None:
    first, second = [make_row() for _ in range(5)], [make_row() for _ in range(5)]
    async with running(temp_pool, spool, retry_interval=0.05) as writer:
        for row in first:
            writer.submit(row)
        await writer.flush()
        await asyncio.to_thread(temp_pg.stop)
        await asyncio.to_thread(temp_pg.start)
        for row in second:
            writer.submit(row)
        await drained(writer)
    assert await count(temp_pool, first + second) == 10
