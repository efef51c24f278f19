"""usage_logs by month: the migration that moves a filled table, partitions ahead, retention."""

import asyncio
import os
import random
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import PIPE

import asyncpg
import pytest

from origin.settings import Settings
from origin.stores import postgres, usage_partitions
from origin.stores.migrate import MIGRATION_DIR, migrate, migration_files
from shared.usage import UsageRow
from tests.origin.usage.test_rollups import differences
from tests.origin.usage.traffic import random_rows, write_rows

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
ROLLUPS = ("usage_rollups", "usage_tag_rollups", "usage_sessions")


def _ids() -> dict[str, str]:
    return {"org_id": str(uuid.uuid4()), "project_id": str(uuid.uuid4()), "key_id": str(uuid.uuid4())}


def _row(created_at: datetime, ids: dict[str, str] | None = None, cost_cents: float = 0.0) -> UsageRow:
    ids = ids or _ids()
    return UsageRow(
        org_id=ids["org_id"],
        project_id=ids["project_id"],
        key_id=ids["key_id"],
        created_at=created_at,
        cost_total_cents=cost_cents,
    )


def _at(year: int, month: int, day: int = 15) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


@pytest.fixture
async def scratch(migrated: str) -> AsyncIterator[str]:
    """The URL of a database of its own, not migrated yet, dropped afterwards."""
    base, name = migrated.rsplit("/", 1)
    url = f"{base}/{name}_partitions"
    admin = await asyncpg.connect(f"{base}/postgres")
    await admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
    try:
        yield url
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
        await admin.close()


async def _rows_by_table(pool: postgres.Pool) -> dict[str, set[tuple[str, datetime]]]:
    found: dict[str, set[tuple[str, datetime]]] = {}
    for row in await pool.fetch(
        "SELECT tableoid::regclass::text AS t, request_id, created_at FROM usage_logs"
    ):
        found.setdefault(row["t"], set()).add((str(row["request_id"]), row["created_at"]))
    return found


async def _rollups(pool: postgres.Pool) -> dict[str, list[asyncpg.Record]]:
    return {table: sorted(await pool.fetch(f"TABLE {table}")) for table in ROLLUPS}


async def _partitions(pool: postgres.Pool) -> list[str]:
    return [
        row["relname"]
        for row in await pool.fetch(
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'usage_logs'::regclass ORDER BY 1"
        )
    ]


def _month_partition(at: datetime) -> str:
    return f"usage_logs_{at:%Y_%m}"


async def test_the_migration_moves_a_filled_table_into_month_partitions(scratch: str, tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in migration_files():
        if path.name < "0017":
            shutil.copy(path, before / path.name)
    await migrate(scratch, before)
    pool = await postgres.create_pool(scratch, max_size=2)
    try:
        rows = random_rows(random.Random(17), _ids(), 400, end=NOW, span=timedelta(days=150))
        await write_rows(pool, rows, tmp_path / "spool")
        written = {(row.request_id, row.created_at) for row in rows}
        rollups = await _rollups(pool)

        later = [path.name for path in migration_files() if path.name >= "0017"]
        assert await migrate(scratch, MIGRATION_DIR) == later  # 0017_usage_partitions.sql first

        by_table = await _rows_by_table(pool)
        assert set().union(*by_table.values()) == written
        assert len(by_table) == len({row.created_at.strftime("%Y_%m") for row in rows}) >= 5
        for table, keys in by_table.items():
            assert {_month_partition(at) for _, at in keys} == {table}
        assert await _rollups(pool) == rollups  # moved, not counted again
        indexes = {
            row["indexname"]
            for row in await pool.fetch(
                "SELECT indexname FROM pg_indexes WHERE tablename = $1", _month_partition(rows[0].created_at)
            )
        }
        assert len(indexes) == 6  # the primary key and the five indexes, on the partition itself

        await write_rows(pool, rows[::3], tmp_path / "replay")  # a replay still adds nothing
        assert sum(map(len, (await _rows_by_table(pool)).values())) == len(written)
        assert await differences(pool) == dict.fromkeys(ROLLUPS, 0)
    finally:
        await pool.close()


async def test_a_row_without_its_partition_waits_in_the_default_and_moves_when_it_is_made(
    scratch: str, tmp_path: Path
) -> None:
    await migrate(scratch)
    pool = await postgres.create_pool(scratch, max_size=2)
    try:
        far = _row(_at(2031, 5))
        await write_rows(pool, [far], tmp_path / "spool")
        assert await _rows_by_table(pool) == {"usage_logs_default": {(far.request_id, far.created_at)}}

        assert await usage_partitions.make_ahead(pool, _at(2031, 4), months=2) == [
            "usage_logs_2031_04",
            "usage_logs_2031_05",
            "usage_logs_2031_06",
        ]
        assert await usage_partitions.make_ahead(pool, _at(2031, 4), months=2) == []
        assert await _rows_by_table(pool) == {"usage_logs_2031_05": {(far.request_id, far.created_at)}}
        await write_rows(pool, [far], tmp_path / "replay")
        assert await pool.fetchval("SELECT count(*) FROM usage_logs") == 1
        assert await differences(pool) == dict.fromkeys(ROLLUPS, 0)
    finally:
        await pool.close()


async def test_retention_drops_whole_months_and_keeps_the_rollups(scratch: str, tmp_path: Path) -> None:
    await migrate(scratch)
    pool = await postgres.create_pool(scratch, max_size=2)
    try:
        now = NOW.replace(year=2031)  # past the months the migration made around today
        months = [_at(2031, 8), _at(2031, 9, 30), _at(2031, 10, 1), _at(2031, 11), _at(2031, 12, 1)]
        for at in months:
            await usage_partitions.make_ahead(pool, at, months=0)
        ids = _ids()
        rows = [_row(at, ids, 0.5) for at in months]
        rows.append(_row(_at(2019, 1), ids, 0.5))  # in the default
        await write_rows(pool, rows, tmp_path / "spool")
        spent = await pool.fetchval("SELECT sum(cost_cents) FROM usage_rollups WHERE span = 'day'")

        made, dropped = await usage_partitions.keep(pool, retention_months=2, now=now)

        # Two months before now is 2031-10-06: September ends before it, October does not (the
        # months the migration made around today go too).
        assert dropped[-2:] == ["usage_logs_2031_08", "usage_logs_2031_09"]
        assert made == ["usage_logs_2032_01", "usage_logs_2032_02"]
        assert await _partitions(pool) == [
            "usage_logs_2031_10",
            "usage_logs_2031_11",
            "usage_logs_2031_12",
            *made,
            "usage_logs_default",
        ]
        assert await pool.fetchval("SELECT count(*) FROM usage_logs") == 3
        assert await pool.fetchval("SELECT min(created_at) FROM usage_logs") == _at(2031, 10, 1)
        assert await pool.fetchval("SELECT sum(cost_cents) FROM usage_rollups WHERE span = 'day'") == spent
        assert await usage_partitions.keep(pool, retention_months=0, now=now) == ([], [])
    finally:
        await pool.close()


async def test_prism_migrate_makes_missing_partitions_and_applies_retention(
    base_settings: Settings, scratch: str, tmp_path: Path
) -> None:
    await migrate(scratch)
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=200)
    pool = await postgres.create_pool(scratch, max_size=2)
    try:
        next_month = (now.replace(day=1) + timedelta(days=32)).replace(day=1)
        await pool.execute(f"DROP TABLE {_month_partition(next_month)}")  # as if migrated months ago
        await usage_partitions.make_ahead(pool, long_ago, months=0)
        await write_rows(pool, [_row(long_ago)], tmp_path / "spool")
    finally:
        await pool.close()
    env = {
        **os.environ,
        "PRISM_DATABASE_URL": scratch,
        "PRISM_REDIS_URL": base_settings.redis_url,
        "PRISM_ENV": "development",
        "PRISM_USAGE_RETENTION_MONTHS": "3",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "origin.cli", "migrate", env=env, stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().splitlines() == [
        "database is up to date",
        f"usage partitions made: {_month_partition(next_month)}",
        f"usage partitions dropped: {_month_partition(long_ago)}",
    ]
