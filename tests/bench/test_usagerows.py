"""Usage rows are counted for the bench's key alone, once the writer has settled, against the requests."""

import asyncio
from dataclasses import replace

import pytest

from bench import usagerows
from bench.repeated import Measured
from bench.result import LoadResult, Runs
from bench.usagerows import UsageCount, UsageRows
from origin.settings import Settings
from origin.stores import postgres
from origin.stores.sql import query
from origin.usage.writer import insert_arguments
from shared.keys import key_hash
from shared.usage import UsageRow


def test_rows_match_from_the_answered_requests_to_those_a_runs_end_may_have_cut_off() -> None:
    assert UsageCount(rows=100, answered=100, unanswered_at_most=32).matches
    assert UsageCount(rows=132, answered=100, unanswered_at_most=32).matches
    assert not UsageCount(rows=99, answered=100, unanswered_at_most=32).matches
    assert not UsageCount(rows=133, answered=100, unanswered_at_most=32).matches
    assert UsageCount(1, 2, 3) + UsageCount(10, 20, 30) == UsageCount(11, 22, 33)
    assert UsageCount(99, 100, 32).describe() == (
        "99 usage rows for 100 answered requests (expected 100 to 132)"
    )


async def insert(pool: postgres.Pool, record: postgres.KeyRecord, count: int) -> None:
    org, project, key = record.org_id, record.project_id, record.key_id
    rows = [UsageRow(org_id=org, project_id=project, key_id=key) for _ in range(count)]
    await pool.execute(query("insert_usage_rows"), *insert_arguments(rows))


def measured(answered: int, connections: int = 1) -> Measured:
    return Measured(connections, Runs((LoadResult(answered, 1.0, 1.0, 2.0),)), None, 0.0, 0.0)


@pytest.fixture
async def keys(pool: postgres.Pool, base_settings: Settings) -> tuple[UsageRows, postgres.KeyRecord]:
    """A counter for a fresh key, and the record of another key of the same project."""
    pepper = base_settings.key_pepper
    key, record = await postgres.create_key(pool, project="bench-rows", org="bench-rows", pepper=pepper)
    _, other = await postgres.create_key(pool, project="bench-rows", org="bench-rows", pepper=pepper)
    counter = UsageRows(base_settings.database_url, key_hash(key, pepper))
    await insert(pool, other, 3)
    return counter, record


async def test_rows_of_the_key_written_later_are_waited_for(
    pool: postgres.Pool, keys: tuple[UsageRows, postgres.KeyRecord]
) -> None:
    counter, record = keys
    assert await asyncio.to_thread(counter.count) == 0
    settled = asyncio.create_task(asyncio.to_thread(counter.settled, 5))
    await asyncio.sleep(0.3)
    await insert(pool, record, 5)
    assert await settled == 5


async def test_a_lost_row_is_a_mismatch(
    pool: postgres.Pool, keys: tuple[UsageRows, postgres.KeyRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usagerows, "_SETTLE_SECONDS", 0.5)
    counter, record = keys
    await insert(pool, record, 2)
    before = await asyncio.to_thread(counter.count)
    await insert(pool, record, 4)
    written = await asyncio.to_thread(counter.written_since, before, [measured(3), measured(2)])
    assert written == UsageCount(rows=4, answered=5, unanswered_at_most=2)
    assert not written.matches
    assert replace(written, rows=6).matches
