"""The report's notes: a Prism row whose usage rows do not match its requests is a failure."""

from bench.compare import Comparison
from bench.report import notes
from bench.result import LoadResult, Runs
from bench.usagerows import UsageCount


def row(usage: UsageCount | None) -> Comparison:
    direct, prism = Runs((LoadResult(40_000, 4.0, 0.1, 0.2),)), Runs((LoadResult(7_000, 4.0, 1.0, 2.0),))
    return Comparison("chat", 32, direct, prism, usage=usage)


def test_missing_usage_rows_are_a_failed_note() -> None:
    assert notes([row(UsageCount(rows=6_990, answered=7_000, unanswered_at_most=128))]) == [
        "FAILED: chat @32 via prism: 6,990 usage rows for 7,000 answered requests (expected 7,000 to 7,128)"
    ]


def test_matching_or_uncounted_usage_rows_say_nothing() -> None:
    assert notes([row(UsageCount(rows=7_030, answered=7_000, unanswered_at_most=128)), row(None)]) == []
