"""The printed report: one table row per scenario and concurrency, then one line per target and notes."""

from collections.abc import Iterable, Sequence

from bench.compare import Comparison
from bench.scenarios import SCENARIOS, Target

# A row's direct req/s under this multiple of Prism's means the baseline (the fake and the generator)
# may be what limits Prism's number, not Prism.
HEADROOM = 1.5
# At or above this share of one core the single origin worker is the bottleneck.
SATURATED = 90.0
# Other processes using more than this many cores during a row make its numbers pessimistic.
BUSY_MACHINE = 0.25

_NAME = max(13, *(len(scenario.name) + 1 for scenario in SCENARIOS))
_TRIPLE = f"{'direct':>7}{'prism':>7}{'added':>7}"
_HEADER = (
    f"{'':<{_NAME}}{'':>6}  {'requests/s':^22}  {'p50 ms':^21}  {'p99 ms':^21}  {'ttfb p50 ms':^21}  "
    f"{'prism CPU':^12}  {'others':>6}",
    f"{'scenario':<{_NAME}}{'conns':>6}  {'direct':>8}{'prism':>8}{'ratio':>6}  "
    f"{_TRIPLE}  {_TRIPLE}  {_TRIPLE}  {'µs/req':>7}{'core':>5}  {'cores':>6}  {'failed':>6}",
)
LEGEND = (
    "added = prism - direct; ratio = prism req/s / direct req/s; ttfb = time to first byte, measured by\n"
    "the Python client; prism CPU = the origin process's own CPU (Redis and Postgres not included);\n"
    "others = cores used meanwhile by processes outside the bench (Redis and Postgres count as the bench's)"
)


def ms_cell(value: float | None, *, signed: bool = False) -> str:
    """Three significant digits or so, right-aligned in 7 columns, so neighbours never run together."""
    if value is None:
        return f"{'-':>7}"
    decimals = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    return f"{text:>7}"


def _triple(direct: float | None, prism: float | None, added: float | None) -> str:
    return ms_cell(direct) + ms_cell(prism) + ms_cell(added, signed=True)


def _row(row: Comparison) -> str:
    direct_ttfb = row.direct_ttfb.ttfb_p50_ms if row.direct_ttfb else None
    prism_ttfb = row.prism_ttfb.ttfb_p50_ms if row.prism_ttfb else None
    return (
        f"{row.scenario:<{_NAME}}{row.connections:>6}  "
        f"{row.direct.rps:>8,.0f}{row.prism.rps:>8,.0f}{row.ratio:>6.2f}  "
        f"{_triple(row.direct.p50_ms, row.prism.p50_ms, row.added_p50_ms)}  "
        f"{_triple(row.direct.p99_ms, row.prism.p99_ms, row.added_p99_ms)}  "
        f"{_triple(direct_ttfb, prism_ttfb, row.added_ttfb_p50_ms)}  "
        f"{row.prism_cpu_us_per_request:>7,.0f}{row.prism_cpu_percent:>4.0f}%  "
        f"{row.others_cores:>6.2f}  {row.failures:>6}"
    )


def table(rows: Iterable[Comparison]) -> str:
    lines = list(_HEADER)
    lines.append("-" * len(lines[1]))
    lines.extend(_row(row) for row in rows)
    return "\n".join(lines)


def target_lines(targets: Iterable[Target], rows: Sequence[Comparison]) -> list[str]:
    found = {(row.scenario, row.connections): row for row in rows}
    lines: list[str] = []
    for target in targets:
        row = found.get((target.scenario, target.connections))
        if row is not None:
            lines.append(target.describe(row))
    return lines


def _failures(row: Comparison) -> list[str]:
    runs = (
        ("direct", row.direct),
        ("prism", row.prism),
        ("direct ttfb probe", row.direct_ttfb),
        ("prism ttfb probe", row.prism_ttfb),
    )
    return [
        f"FAILED: {row.scenario} @{row.connections} {side}: {run.non_2xx} non-2xx answers,"
        f" {run.socket_errors} socket errors"
        for side, run in runs
        if run is not None and run.failures
    ]


def notes(rows: Sequence[Comparison]) -> list[str]:
    lines: list[str] = []
    for row in rows:
        where = f"{row.scenario} @{row.connections}"
        if row.connections > 1 and row.prism_cpu_percent >= SATURATED:
            lines.append(
                f"note: {where}: the origin worker used {row.prism_cpu_percent:.0f} % of a core, so it is"
                f" CPU-bound at about 1 s / {row.prism_cpu_us_per_request:,.0f} µs per request"
            )
        if row.connections > 1 and 0 < row.direct.rps < HEADROOM * row.prism.rps:
            lines.append(
                f"note: {where}: direct req/s is only {row.direct.rps / row.prism.rps:.1f} times Prism's;"
                " the fake or the load generator may be limiting this row"
            )
        if row.others_cores > BUSY_MACHINE:
            lines.append(
                f"note: {where}: other processes used {row.others_cores:.2f} cores meanwhile;"
                " this row understates Prism (µs CPU per request is the steadier figure)"
            )
        hits, answers = row.prism.cache_hits, row.prism.requests
        if hits and not row.expect_hits:
            lines.append(
                f"note: {where}: {hits:,} of {answers:,} answers were cache hits; meant to be misses"
            )
        if row.expect_hits and hits < answers:
            lines.append(f"note: {where}: only {hits:,} of {answers:,} answers were cache hits")
        lines.extend(_failures(row))
        if row.usage is not None and not row.usage.matches:
            lines.append(f"FAILED: {where} via prism: {row.usage.describe()}")
    return lines
