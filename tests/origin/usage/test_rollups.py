"""The rollups of migration 0004 equal the rows, and so do the reports that read them.

Traffic goes through the real writer: random rows and seeded sessions over several days, multi-tag
and untagged rows, edge rows, a batch replayed, and several writers at once. Every report is then
compared with the same report computed in Python from the raw rows, over windows with ragged ends,
whole hours, one hour's inside, nothing, no end, and a narrowed project filter.
"""

import asyncio
import random
import shutil
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from origin.stores import postgres
from origin.stores.migrate import MIGRATION_DIR, migrate, migration_files
from origin.stores.sql import query
from origin.usage import reports
from origin.usage.filters import Window
from origin.usage.seed import SeedProject, generate
from origin.usage.writer import insert_arguments
from shared.usage import UsageRow
from tests.origin.usage import reference
from tests.origin.usage.traffic import edge_row, random_rows, write_rows

END = reference.utc(2025, 6, 20, 15, 0)
SPAN = timedelta(days=4)

# Each rollup table against the GROUP BY over usage_logs that defines it; EXCEPT both ways = equal.
ROLLUP_DEFINITIONS = {
    "usage_rollups": """
        SELECT project_id, span, date_trunc(span, created_at, 'UTC'), model_used, cache_status, success,
            count(*), sum(cost_total_cents), sum(cache_saved_cents), sum(tokens_in), sum(tokens_out),
            sum(tokens_cached_in)
        FROM usage_logs, unnest(ARRAY['hour', 'day']) AS span GROUP BY 1, 2, 3, 4, 5, 6""",
    "usage_tag_rollups": """
        SELECT project_id, tag.key, span, date_trunc(span, created_at, 'UTC'), tag.value, cache_status,
            count(*), sum(cost_total_cents), sum(cache_saved_cents)
        FROM usage_logs, jsonb_each_text(request_tags) AS tag, unnest(ARRAY['hour', 'day']) AS span
        GROUP BY 1, 2, 3, 4, 5, 6""",
    "usage_sessions": """
        SELECT project_id, session_id, count(*), sum(cost_total_cents), sum(cache_saved_cents),
            min(created_at), max(created_at)
        FROM usage_logs WHERE session_id IS NOT NULL GROUP BY 1, 2""",
}


async def differences(conn: asyncpg.Connection | postgres.Pool) -> dict[str, int]:
    found = {}
    for table, definition in ROLLUP_DEFINITIONS.items():
        found[table] = await conn.fetchval(
            f"SELECT (SELECT count(*) FROM (TABLE {table} EXCEPT ({definition})) AS extra)"
            f" + (SELECT count(*) FROM (({definition}) EXCEPT TABLE {table}) AS missing)"
        )
    return found


def _ids() -> dict[str, str]:
    return {"org_id": str(uuid4()), "project_id": str(uuid4()), "key_id": str(uuid4())}


def _traffic(seed: int) -> tuple[list[dict[str, str]], list[UsageRow]]:
    rng = random.Random(seed)
    projects = [_ids(), _ids(), _ids()]
    rows: list[UsageRow] = []
    for ids in projects:
        rows += random_rows(rng, ids, 150, end=END, span=SPAN)
        rows += [edge_row(ids, END - timedelta(hours=h, minutes=7 * h)) for h in range(0, 60, 7)]
        rows += [edge_row(ids, END - timedelta(hours=3), request_tags=None, session_id="s-edge")]
    seeded = [SeedProject(p["org_id"], p["project_id"], p["key_id"]) for p in projects]
    for hour in generate(seeded, 600, end=END, days=4, seed=seed):
        rows += hour
    return projects, rows


@pytest.fixture(scope="module")
async def traffic(pool: postgres.Pool, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    """Four writers at once over overlapping slices (so rows are offered twice), then a replay."""
    projects, rows = _traffic(7)
    slices = [rows[i::3] + rows[(i + 1) :: 6] for i in range(3)] + [rows[::5]]
    await asyncio.gather(
        *(write_rows(pool, part, tmp_path_factory.mktemp(f"spool{i}")) for i, part in enumerate(slices))
    )
    await write_rows(pool, rows[: len(rows) // 2], tmp_path_factory.mktemp("replay"))
    return projects


async def test_the_rollup_tables_equal_a_group_by_over_the_rows(
    pool: postgres.Pool, traffic: list[dict[str, str]]
) -> None:
    assert await differences(pool) == dict.fromkeys(ROLLUP_DEFINITIONS, 0)
    projects = [p["project_id"] for p in traffic]
    written = await pool.fetchval(
        "SELECT count(*) FROM usage_logs WHERE project_id = ANY($1::uuid[])", projects
    )
    assert written == len(_traffic(7)[1])  # every row once: replays and overlaps added nothing
    for span in ("hour", "day"):
        counted = await pool.fetchval(
            "SELECT sum(requests) FROM usage_rollups WHERE span = $1 AND project_id = ANY($2::uuid[])",
            span,
            projects,
        )
        assert counted == written, span


async def test_writers_offered_the_same_rows_in_any_order_never_deadlock(pool: postgres.Pool) -> None:
    """Four inserts at once of one set of rows, each shuffled: one wins each row, none waits in a cycle.
    (Without the insert's request_id order, about one round in three here ends in a deadlock.)"""
    rng = random.Random(5)
    ids = _ids()
    offered = 0
    for _ in range(20):
        rows = random_rows(rng, ids, 500, end=END, span=timedelta(hours=3))
        orders = [insert_arguments(rng.sample(rows, len(rows))) for _ in range(4)]
        await asyncio.gather(*(pool.execute(query("insert_usage_rows"), *order) for order in orders))
        offered += len(rows)
    counted = await pool.fetchval(
        "SELECT sum(requests) FROM usage_rollups WHERE span = 'day' AND project_id = $1", ids["project_id"]
    )
    assert counted == offered
    assert await differences(pool) == dict.fromkeys(ROLLUP_DEFINITIONS, 0)


def _windows() -> dict[str, Window]:
    start = END - SPAN
    return {
        "ragged both ends": Window(
            start + timedelta(hours=5, minutes=17, seconds=3), END - timedelta(minutes=41)
        ),
        "whole hours": Window(start + timedelta(hours=2), END - timedelta(hours=6)),
        "whole days": Window(reference.utc(2025, 6, 17, 0, 0), reference.utc(2025, 6, 20, 0, 0)),
        "inside one hour": Window(END - timedelta(hours=7, minutes=50), END - timedelta(hours=7, minutes=10)),
        "across one hour boundary": Window(
            END - timedelta(hours=9, minutes=50), END - timedelta(hours=8, minutes=1)
        ),
        "no end": Window(start + timedelta(days=1, minutes=59, microseconds=1)),
        "everything": Window(start - timedelta(days=1), END + timedelta(days=1)),
        "empty": Window(END + timedelta(days=2), END + timedelta(days=3)),
    }


WINDOWS = _windows()
Case = tuple[frozenset[str], Window, list[reference.Row]]


@pytest.fixture(scope="module", params=sorted(WINDOWS))
async def case(request: pytest.FixtureRequest, pool: postgres.Pool, traffic: list[dict[str, str]]) -> Case:
    scope = frozenset(p["project_id"] for p in traffic)
    rows = await reference.raw_rows(pool, scope)
    window = WINDOWS[request.param]
    return scope, window, reference.in_window(rows, scope, window)


def _narrowed(scope: frozenset[str], window: Window) -> Window:
    return Window(window.since, window.until, projects=frozenset(sorted(scope)[:2]))


async def test_summary_equals_the_rows(pool: postgres.Pool, case: Case) -> None:
    scope, window, rows = case
    assert await reports.summary(pool, scope, window) == reference.summary(rows)
    narrowed = _narrowed(scope, window)
    expected = reference.summary(reference.in_window(rows, scope, narrowed))
    assert await reports.summary(pool, scope, narrowed) == expected


@pytest.mark.parametrize("key", ["feature", "team", "env", "absent"])
async def test_tag_groups_equal_the_rows(pool: postgres.Pool, case: Case, key: str) -> None:
    scope, window, rows = case
    for view in (window, _narrowed(scope, window)):
        report = await reports.by_tag(pool, scope, view, key)
        expected = reference.by_tag(reference.in_window(rows, scope, view), key)
        assert sorted(report.groups, key=str) == sorted(expected, key=str)
        costs = [group.cost_cents for group in report.groups]
        assert costs == sorted(costs, reverse=True)
        summary = await reports.summary(pool, scope, view)
        assert sum(group.requests for group in report.groups) == summary.requests


async def test_model_groups_equal_the_rows(pool: postgres.Pool, case: Case) -> None:
    scope, window, rows = case
    report = await reports.by_model(pool, scope, window)
    expected = reference.groups(rows, lambda r: r["model_used"])
    assert sorted(report.groups, key=str) == sorted(expected, key=str)


@pytest.mark.parametrize("bucket", ["minute", "hour", "day"])
async def test_timeseries_equals_the_rows(pool: postgres.Pool, case: Case, bucket: str) -> None:
    scope, window, rows = case
    longest = timedelta(hours=25 if bucket == "minute" else 24 * 5)
    if window.until is None or window.until - window.since > longest:
        window = Window(window.since, window.since + longest, window.projects)
        rows = reference.in_window(rows, scope, window)
    series = await reports.timeseries(pool, scope, window, bucket, now=END)
    assert series.points == reference.timeseries(rows, window, bucket, END)


async def test_sessions_equal_the_rows(pool: postgres.Pool, case: Case) -> None:
    scope, window, rows = case
    listing = await reports.sessions(pool, scope, window, 500)
    assert listing.data == reference.sessions(rows, 500)
    top = await reports.sessions(pool, scope, _narrowed(scope, window), 5)
    assert top.data == reference.sessions(reference.in_window(rows, scope, _narrowed(scope, window)), 5)


async def test_the_migration_backfills_rollups_equal_to_the_rows(
    base_settings: object, migrated: str, tmp_path: Path
) -> None:
    """Rows written before 0004 existed get the rollups the trigger would have made."""
    before = tmp_path / "before"
    before.mkdir()
    for path in migration_files():
        if path.name < "0004" or path.name[:4] in ("0006", "0010", "0011"):  # columns today's writer fills
            shutil.copy(path, before / path.name)
    url = migrated.rsplit("/", 1)[0] + f"/{migrated.rsplit('/', 1)[1]}_backfill"
    admin = await asyncpg.connect(migrated.rsplit("/", 1)[0] + "/postgres")
    await admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}")
    try:
        await migrate(url, before)
        pool = await postgres.create_pool(url, max_size=2)
        try:
            _, rows = _traffic(11)
            await write_rows(pool, rows, tmp_path / "spool")
            assert "0004_usage_rollups.sql" in await migrate(url, MIGRATION_DIR)
            assert await differences(pool) == dict.fromkeys(ROLLUP_DEFINITIONS, 0)
            assert await pool.fetchval("SELECT sum(requests) FROM usage_rollups WHERE span = 'day'") == len(
                rows
            )
        finally:
            await pool.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
        await admin.close()
