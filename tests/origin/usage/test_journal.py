"""The usage journal: rows a killed writer held only in memory are replayed by the next one."""

import asyncio
import signal
import sys
from pathlib import Path

from origin.stores import postgres
from origin.usage.journal import Journal
from origin.usage.spool import Spool
from origin.usage.writer import UsageWriter
from shared.usage import UsageRow
from tests.origin.usage.rows import COUNT_IDS, make_row
from tests.pgcluster import TempPostgres


def _lines(path: Path) -> list[str]:
    return [UsageRow.from_wire(line).request_id for line in path.read_bytes().splitlines()]


def test_rows_are_journaled_until_durable_then_forgotten(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_rows=3)
    rows = [make_row() for _ in range(7)]
    for sequence, row in enumerate(rows):
        journal.append(sequence, row)
    segments = sorted(tmp_path.glob("journal-*.jsonl"))
    assert [len(_lines(path)) for path in segments] == [3, 3, 1]
    assert [rid for path in segments for rid in _lines(path)] == [row.request_id for row in rows]
    journal.release(4)  # rows 0-3 durable: the first segment goes, the second holds row 4 still
    assert sorted(tmp_path.glob("journal-*.jsonl")) == segments[1:]
    journal.release(7)
    assert sorted(tmp_path.glob("journal-*.jsonl")) == segments[2:] and _lines(segments[2]) == []
    journal.append(7, rows[0])  # the segment written to is truncated, then written on
    assert _lines(segments[2]) == [rows[0].request_id]
    journal.close()
    assert Journal(tmp_path).leftovers == [segments[2]]  # a row not yet durable outlives the writer
    journal = Journal(tmp_path)
    journal.append(0, rows[1])
    journal.release(1)
    journal.close()
    assert sorted(tmp_path.glob("journal-*.jsonl")) == [segments[2]]  # an empty segment is removed


def test_the_spool_adopts_a_journal_and_drops_its_torn_last_line(tmp_path: Path) -> None:
    rows = [make_row() for _ in range(3)]
    leftover = tmp_path / "journal-4.jsonl"
    leftover.write_text("".join(row.to_wire() + "\n" for row in rows) + rows[0].to_wire()[:40])
    with Spool(tmp_path) as spool:
        spool.adopt(leftover)
        assert spool.size() == 3 and not leftover.exists()
        segment = spool.claim()
        assert segment is not None
        assert [row.request_id for row in spool.read(segment).rows] == [row.request_id for row in rows]
        empty = tmp_path / "journal-5.jsonl"
        empty.write_bytes(b"")
        spool.adopt(empty)
        assert spool.size() == 3 and not empty.exists()


async def test_rows_of_a_writer_killed_before_postgres_took_them_are_replayed(
    temp_pg: TempPostgres,
    tmp_path: Path,
) -> None:
    if not temp_pg.running:
        await asyncio.to_thread(temp_pg.start)
    directory = tmp_path / "spool"
    await asyncio.to_thread(temp_pg.freeze)  # the batch's insert hangs: the rows are only in memory
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.origin.usage.journal_child",
            temp_pg.url,
            str(directory),
            "40",
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        ids = []
        async with asyncio.timeout(60):
            while (line := (await child.stdout.readline()).decode().strip()) != "submitted":
                assert line, "the writer process ended early"
                ids.append(line)
        child.send_signal(signal.SIGKILL)
        await child.wait()
    finally:
        await asyncio.to_thread(temp_pg.thaw)
    assert len(ids) == 40 and not list(directory.glob("spool.jsonl"))  # nothing reached the spool
    pool = await postgres.create_pool(temp_pg.url, min_size=0, max_size=2)
    try:
        assert await pool.fetchval(COUNT_IDS, ids) == 0
        with Spool(directory) as spool:
            writer = UsageWriter(pool, spool, journal=Journal(directory), retry_interval=0.05)
            await writer.start()
            try:
                for _ in range(600):  # the replay task drains the spool within its retry interval
                    if await pool.fetchval(COUNT_IDS, ids) == 40:
                        break
                    await asyncio.sleep(0.05)
            finally:
                await writer.stop()
        assert await pool.fetchval(COUNT_IDS, ids) == 40
        assert not list(directory.glob("journal-*.jsonl")) and not list(directory.glob("replaying-*"))
    finally:
        await pool.close()
