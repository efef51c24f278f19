"""Repeated runs: figures are the runs' medians, counts their totals."""

from bench.result import LoadResult, Runs


def test_figures_are_medians_and_counts_are_totals() -> None:
    runs = Runs(
        (
            LoadResult(4000, 4.0, 0.9, 3.0, non_2xx=1, cache_hits=10, ttfb_p50_ms=0.4),
            LoadResult(8000, 4.0, 0.5, 9.0, socket_errors=2, cache_hits=20, ttfb_p50_ms=0.2),
            LoadResult(6000, 4.0, 0.7, 5.0, cache_hits=30, ttfb_p50_ms=0.3),
        )
    )
    assert (runs.rps, runs.p50_ms, runs.p99_ms, runs.ttfb_p50_ms) == (1500.0, 0.7, 5.0, 0.3)
    assert (runs.requests, runs.seconds, runs.cache_hits) == (18000, 12.0, 60)
    assert (runs.non_2xx, runs.socket_errors, runs.failures) == (1, 2, 3)


def test_an_even_number_of_runs_has_the_mean_of_the_middle_two() -> None:
    runs = Runs((LoadResult(4000, 4.0, 0.6, 1.0), LoadResult(6000, 4.0, 1.0, 2.0)))
    assert (runs.rps, runs.p50_ms) == (1250.0, 0.8)


def test_no_time_to_first_byte_when_no_run_measured_it() -> None:
    assert Runs((LoadResult(100, 1.0, 1.0, 2.0),)).ttfb_p50_ms is None
