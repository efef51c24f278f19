"""The ingest section's report: CPU per row against the target, and every row sent stored."""

from bench.ingest import IngestRun, medians, notes, table
from bench.run import Results


def test_cpu_per_row_is_reported_against_the_target_for_batches_only() -> None:
    runs = [IngestRun(1, 5_000, 5_000, 1.72, 2.0, 0.5), IngestRun(100, 5_000, 5_000, 0.23, 0.5, 0.1)]
    assert [round(run.microseconds_per_row) for run in runs] == [344, 46]
    assert notes(runs) == [
        "target: origin CPU per edge row in batches of 100 ≤ 50 µs: 46 µs, the median (met)"
    ]
    assert notes([IngestRun(100, 1_000, 1_000, 0.06, 1.0)]) == [
        "target: origin CPU per edge row in batches of 100 ≤ 50 µs: 60 µs, the median (MISSED)"
    ]
    lines = table(runs).splitlines()
    assert lines[0].startswith("edge rows into the origin: 5,000 rows per run, 16 posts at a time")
    assert lines[3].split() == ["1", "344", "(344-344)", "100", "2,500", "5,000"]


def test_each_size_is_reported_by_its_median_run_with_the_range() -> None:
    runs = [IngestRun(100, 1_000, 1_000, seconds, 1.0) for seconds in (0.07, 0.04, 0.05)]
    runs.append(IngestRun(1, 1_000, 1_000, 0.3, 1.0))
    assert [run.origin_cpu_seconds for run in medians(runs)] == [0.05, 0.3]
    assert table(runs).splitlines()[3].split()[:3] == ["100", "50", "(40-70)"]
    assert notes(runs) == [
        "target: origin CPU per edge row in batches of 100 ≤ 50 µs: 50 µs, the median (met)"
    ]


def test_a_row_not_stored_fails_the_run() -> None:
    lost = IngestRun(1, 5_000, 4_998, 1.0, 1.0)
    assert notes([lost]) == ["ROWS LOST: 2 of 5,000 rows sent 1 per post"]
    assert Results(ingest_runs=[lost]).failed and not Results(ingest_runs=[IngestRun(1, 9, 9, 0, 1)]).failed
