import logging
from pathlib import Path
from uuid import uuid4

import pytest

from origin.usage.spool import ACTIVE_NAME, Spool, SpoolBusyError
from shared.usage import UsageRow


def make_rows(count: int) -> list[UsageRow]:
    return [
        UsageRow(org_id=str(uuid4()), project_id=str(uuid4()), key_id=str(uuid4()), cost_total_cents=0.0031)
        for _ in range(count)
    ]


def replay_all(spool: Spool, limit: int = 1000) -> list[UsageRow]:
    replayed: list[UsageRow] = []
    while (segment := spool.claim()) is not None:
        offset, done = 0, False
        while not done:
            chunk = spool.read(segment, offset, limit)
            replayed += chunk.rows
            offset, done = chunk.next_offset, chunk.done
        spool.commit(segment)
    return replayed


def test_append_counts_rows_and_replays_them_in_order(tmp_path: Path) -> None:
    rows = make_rows(7)
    with Spool(tmp_path) as spool:
        assert spool.size() == 0 and spool.claim() is None
        spool.append(rows[:3])
        spool.append([])
        spool.append(rows[3:])
        assert spool.size() == 7
        assert replay_all(spool, limit=2) == rows
        assert spool.size() == 0 and spool.claim() is None
        assert list(tmp_path.glob("*.jsonl")) == []


def test_size_is_recomputed_from_disk_at_open(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(make_rows(5))
    with Spool(tmp_path) as reopened:
        assert reopened.size() == 5


def test_rows_appended_while_a_segment_replays_land_in_the_next_segment(tmp_path: Path) -> None:
    first, second = make_rows(2), make_rows(3)
    with Spool(tmp_path) as spool:
        spool.append(first)
        segment = spool.claim()
        assert segment is not None and segment.name.startswith("replaying-")
        spool.append(second)
        assert spool.size() == 5
        assert spool.claim() == segment, "an unfinished segment is handed out again"
        assert spool.read(segment).rows == first
        spool.commit(segment)
        assert spool.size() == 3
        assert replay_all(spool) == second


def test_a_segment_left_by_a_crash_mid_replay_is_replayed_first_at_open(tmp_path: Path) -> None:
    old, new = make_rows(4), make_rows(2)
    spool = Spool(tmp_path)
    spool.append(old)
    segment = spool.claim()
    assert segment is not None
    spool.read(segment, 0, 2)  # half replayed, then the process dies: no commit
    spool.append(new)
    spool.close()

    with Spool(tmp_path) as reopened:
        assert reopened.size() == 6
        assert reopened.claim() == segment
        assert replay_all(reopened) == old + new
        assert reopened.size() == 0


def test_a_truncated_last_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = make_rows(3)
    with Spool(tmp_path) as spool:
        spool.append(rows[:2])
    with (tmp_path / ACTIVE_NAME).open("a") as file:
        file.write(rows[2].to_wire()[:40])  # the crash came mid-write

    with caplog.at_level(logging.WARNING, logger="prism.usage"), Spool(tmp_path) as spool:
        assert spool.size() == 2
        assert "truncated" in caplog.text
        later = make_rows(1)
        spool.append(later)
        assert replay_all(spool) == rows[:2] + later


def test_corrupt_lines_in_a_segment_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = make_rows(2)
    lines = [rows[0].to_wire(), '{"not": "a row"}', "garbage", rows[1].to_wire(), rows[1].to_wire()[:30]]
    (tmp_path / "replaying-3.jsonl").write_text("\n".join(lines))
    with caplog.at_level(logging.WARNING, logger="prism.usage"), Spool(tmp_path) as spool:
        assert replay_all(spool) == rows
        assert spool.size() == 0
        assert caplog.text.count("corrupt line") == 3
        spool.append(make_rows(1))
        segment = spool.claim()
        assert segment is not None and segment.name == "replaying-4.jsonl"


def test_rejected_rows_are_kept_apart_and_not_replayed(tmp_path: Path) -> None:
    rows = make_rows(2)
    with Spool(tmp_path) as spool:
        spool.reject(rows)
        assert spool.size() == 0 and spool.claim() is None
        kept = spool.rejected_path.read_text().splitlines()
        assert [UsageRow.from_wire(line) for line in kept] == rows


def test_one_spool_per_directory(tmp_path: Path) -> None:
    with Spool(tmp_path), pytest.raises(SpoolBusyError):
        Spool(tmp_path)
    with Spool(tmp_path) as again:
        assert again.size() == 0
