"""The runner: its repeats option, and a usage-row mismatch fails the run like a failed request."""

import pytest

from bench.compare import Comparison
from bench.result import LoadResult, Runs
from bench.run import Results, build_parser
from bench.usagerows import UsageCount


def test_three_repeats_unless_told_otherwise_and_never_none() -> None:
    parser = build_parser()
    assert parser.parse_args([]).repeats == 3
    assert parser.parse_args(["--repeats", "5"]).repeats == 5
    with pytest.raises(SystemExit):
        parser.parse_args(["--repeats", "0"])


def test_usage_rows_that_do_not_match_fail_the_run() -> None:
    answered = Runs((LoadResult(1_000, 4.0, 1.0, 2.0),))

    def results(rows: int) -> Results:
        usage = UsageCount(rows=rows, answered=1_000, unanswered_at_most=32)
        return Results(rows=[Comparison("chat", 32, answered, answered, usage=usage)])

    assert not results(1_010).failed
    assert results(990).failed
