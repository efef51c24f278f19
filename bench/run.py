"""``python -m bench.run``: measure every scenario via Prism and against the fake directly, then the
sections (single-flight, the edge, the semantic cache at scale); print a report.

Targets are reported, never enforced: the exit status is 0 unless something failed to start, the load
generator failed, a request failed (non-2xx answer or socket error), or Prism's usage rows did not
match its requests. What was measured before a failure is still printed.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import aiohttp
from redis.exceptions import RedisError

from bench import edge, ingest, pinning, repeated, report, semantic, sidebyside, singleflight, usage
from bench.compare import Comparison
from bench.load import Load, LoadError, PythonClient, Request, choose
from bench.result import Runs
from bench.scenarios import SCENARIOS, SECTIONS, TARGETS, Scenario, select
from bench.stack import Endpoint, Stack, StackError, log_tail, running_stack
from bench.usagerows import UsageRows

_TTFB_WARMUP = 0.5


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _request(scenario: Scenario, endpoint: Endpoint, *, via_prism: bool) -> Request:
    headers = {"Authorization": endpoint.authorization}
    if via_prism:
        headers.update(scenario.prism_headers)
    return Request(endpoint.url, scenario.body, headers, unique=scenario.unique, count_cache_hits=via_prism)


@dataclass(frozen=True, slots=True)
class Plan:
    warmup: float
    duration: float
    ttfb_seconds: float
    repeats: int = 1

    @property
    def runs(self) -> repeated.Plan:
        return repeated.Plan(self.warmup, self.duration, self.repeats)


def compare(
    load: Load, stack: Stack, scenario: Scenario, connections: int, plan: Plan, usage: UsageRows
) -> Comparison:
    direct_request = _request(scenario, stack.direct, via_prism=False)
    prism_request = _request(scenario, stack.prism, via_prism=True)
    rows_before = usage.count()
    direct = repeated.measure(load, stack, direct_request, connections, plan.runs, stack.fake_pid)
    prism = repeated.measure(load, stack, prism_request, connections, plan.runs, stack.prism_pid)
    via_prism = [prism]
    direct_ttfb: Runs | None = None
    prism_ttfb: Runs | None = None
    if scenario.stream and isinstance(load, PythonClient):
        direct_ttfb, prism_ttfb = direct.runs, prism.runs
    elif scenario.stream and plan.ttfb_seconds > 0:
        client, probe = PythonClient(), repeated.Plan(_TTFB_WARMUP, plan.ttfb_seconds)
        direct_ttfb = repeated.measure(client, stack, direct_request, connections, probe, stack.fake_pid).runs
        prism_probe = repeated.measure(client, stack, prism_request, connections, probe, stack.prism_pid)
        prism_ttfb = prism_probe.runs
        via_prism.append(prism_probe)
    row = Comparison(
        scenario.name,
        connections,
        direct.runs,
        prism.runs,
        expect_hits=scenario.expect_hits,
        prism_cpu_seconds=prism.server_cpu_seconds,
        others_cores=max(direct.others_cores, prism.others_cores),
        direct_ttfb=direct_ttfb,
        prism_ttfb=prism_ttfb,
        usage=usage.written_since(rows_before, via_prism),
    )
    _progress(
        f"  {scenario.name} @{connections}: direct {row.direct.rps:,.0f} req/s,"
        f" p50 {row.direct.p50_ms:.2f} ms; prism {row.prism.rps:,.0f} req/s, p50 {row.prism.p50_ms:.2f} ms,"
        f" {row.prism_cpu_us_per_request:,.0f} µs CPU/req; other processes {row.others_cores:.2f} cores"
    )
    return row


def _revision() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=5, check=False
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument(
        "--scenario", action="append", default=[], help="run only these scenarios or sections (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and sections and exit")
    parser.add_argument(
        "--warmup",
        type=float,
        default=1.0,
        help="seconds of warm-up before each system's runs at each connection count",
    )
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument(
        "--repeats",
        type=_positive,
        default=3,
        help="measured runs per system and connection count, after one warm-up; figures are their medians",
    )
    parser.add_argument(
        "--ttfb-seconds",
        type=float,
        default=2.0,
        help="seconds of the Python time-to-first-byte probe per streaming run (0: skip)",
    )
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--semantic-large",
        action="store_true",
        help=f"also measure the semantic cache at {', '.join(f'{n:,}' for n in semantic.LARGE_ENTRIES)}"
        " entries per scope (about 1-2 minutes more)",
    )
    parser.add_argument(
        "--usage-rows",
        type=_sizes,
        default=usage.SIZES,
        help="comma-separated row counts of the usage section's databases (default 1000000,10000000)",
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of row counts") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("row counts are positive")
    return sizes


@dataclass(slots=True)
class Results:
    """Everything measured so far: printed at the end, also when a later step failed."""

    rows: list[Comparison] = field(default_factory=list)
    flights: list[singleflight.Round] = field(default_factory=list)
    edge_rows: list[edge.EdgeRow] = field(default_factory=list)
    edge_skipped: str | None = None
    ingest_runs: list[ingest.IngestRun] = field(default_factory=list)
    lookups: list[semantic.Measurement] = field(default_factory=list)
    usage_timings: list[usage.Timing] = field(default_factory=list)
    side_by_side: list[sidebyside.SideBySide] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return (
            any(row.failures for row in self.rows)
            or any(row.usage is not None and not row.usage.matches for row in self.rows)
            or any(flight.failed for flight in self.flights)
            or any(row.result.failures for row in self.edge_rows)
            or any(timing.status != 200 for timing in self.usage_timings)
            or any(run.stored != run.rows for run in self.ingest_runs)
        )

    def print(self) -> None:
        if self.rows:
            print(report.table(self.rows))
            print(f"\n{report.LEGEND}\n")
            for line in [*report.target_lines(TARGETS, self.rows), *report.notes(self.rows)]:
                print(line)
        if self.side_by_side:
            print()
            for row in self.side_by_side:
                print(f"{sidebyside.table(row)}\n")
            print(f"{sidebyside.LEGEND}\n")
            for row in self.side_by_side:
                for line in [*sidebyside.target_lines(row), *sidebyside.notes(row)]:
                    print(line)
            for line in [
                *sidebyside.hit_target_lines(self.side_by_side, self.rows),
                *sidebyside.floor_lines(self.side_by_side),
            ]:
                print(line)
        if self.flights:
            print(f"\n{singleflight.table(self.flights)}\n")
            print("\n".join(singleflight.summary(self.flights)))
        if self.edge_skipped is not None:
            print(f"\nedge: skipped: {self.edge_skipped}")
        if self.edge_rows:
            print(f"\n{edge.table(self.edge_rows)}\n\n{edge.LEGEND}\n")
            for line in edge.notes(self.edge_rows):
                print(line)
        if self.ingest_runs:
            print(f"\n{ingest.table(self.ingest_runs)}\n")
            print("\n".join(ingest.notes(self.ingest_runs)))
        if self.lookups:
            print(f"\n{semantic.table(self.lookups)}")
        if self.usage_timings:
            print(f"\n{usage.table(self.usage_timings)}")


def _list() -> None:
    for scenario in SCENARIOS:
        print(f"{scenario.name:<18}{scenario.summary} (conns {', '.join(map(str, scenario.connections))})")
    for name, summary in SECTIONS.items():
        print(f"{name:<18}{summary}")


def _run_on_stack(
    load: Load, workdir: Path, scenarios: list[Scenario], sections: list[str], plan: Plan, results: Results
) -> None:
    with running_stack(workdir) as stack:
        usage_rows = UsageRows.of(stack)
        for scenario in scenarios:
            for connections in scenario.connections:
                results.rows.append(compare(load, stack, scenario, connections, plan, usage_rows))
        bench = sidebyside.Bench(load, stack, plan.runs, _progress)
        results.side_by_side = sidebyside.measure(bench, scenarios, results.rows, workdir)
        if "singleflight" in sections:
            _progress(f"  single-flight: N = {', '.join(map(str, singleflight.SIZES))}")
            results.flights = singleflight.measure(stack)
        if "ingest" in sections:
            _progress(f"  ingest: {ingest.ROWS:,} edge rows, one per post and in batches")
            results.ingest_runs = ingest.measure(stack)
        if "edge" in sections:
            results.edge_skipped = edge.missing()
            if results.edge_skipped is not None:
                _progress(f"  edge: skipped: {results.edge_skipped}")
            else:
                results.edge_rows = edge.measure(
                    load,
                    stack,
                    workdir,
                    warmup=plan.warmup,
                    duration=plan.duration,
                    references={(row.scenario, row.connections): row for row in results.rows},
                    progress=_progress,
                )


def _run(args: argparse.Namespace, scenarios: list[Scenario], sections: list[str], results: Results) -> None:
    plan = Plan(args.warmup, args.duration, args.ttfb_seconds, args.repeats)
    with tempfile.TemporaryDirectory(prefix="prism-bench-") as workdir:
        load = choose(args.generator, Path(workdir))
        print(
            "Prism bench: the fake provider on 127.0.0.1, called directly vs through one `prism serve`"
            f" worker (tree {_revision()})\nload: {load.name}; warm-up {plan.warmup:g} s, then"
            f" {plan.repeats} measured runs of {plan.duration:g} s (figures: their medians); {os.cpu_count()}"
            " CPUs; 1-min load average before:"
            f" {os.getloadavg()[0]:.2f}; {pinning.describe()}\n",
            flush=True,
        )
        try:
            if scenarios or {"singleflight", "edge", "ingest"} & set(sections):
                _run_on_stack(load, Path(workdir), scenarios, sections, plan, results)
        except LoadError:
            print(f"the origin's log ends:\n{log_tail(Path(workdir) / 'prism.log')}", file=sys.stderr)
            raise
    if "semantic" in sections:
        sizes = [*semantic.ENTRIES, *(semantic.LARGE_ENTRIES if args.semantic_large else ())]
        results.lookups = semantic.measure(sizes, _progress)
    if "usage" in sections:
        with tempfile.TemporaryDirectory(prefix="prism-bench-usage-") as workdir:
            results.usage_timings = usage.measure(args.usage_rows, Path(workdir), _progress)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        _list()
        return 0
    try:
        scenarios, sections = select(args.scenario)
    except KeyError as error:
        print(f"bench: {error.args[0]}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGHUP, _stop_on_signal)
    results = Results()
    status = 0
    try:
        _run(args, scenarios, sections, results)
    except (StackError, LoadError, OSError, RedisError, aiohttp.ClientError) as error:
        print(f"bench: {error}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    results.print()
    return 1 if status or results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
