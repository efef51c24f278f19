"""Issue 11's side-by-side: the miss scenarios through the bare passthrough, Prism and the peers.

The upstream-alone and Prism figures are the scenario's own rows; the passthrough and each peer are
then started one at a time, on the server core, and measured with the same requests at 1 and 32
connections, the same way (``bench.repeated``: a warm-up, then the medians of N runs). Prism's
figures are read as ratios over the passthrough (what the gateway itself costs) and over Portkey's;
the targets print ``met`` or ``MISSED`` and never fail the run. Only Prism writes usage rows: its
column counts them against its requests, the others show ``-``.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench import peers, repeated
from bench.compare import Comparison
from bench.load import Load, Request
from bench.passthrough import FLOOR_PATH
from bench.result import Runs
from bench.scenarios import Scenario
from bench.stack import CHAT_PATH, Stack, StackError
from bench.usagerows import UsageCount

SCENARIOS: Final = ("chat", "chat-stream")
LATENCY_CONNECTIONS: Final = 1
THROUGHPUT_CONNECTIONS: Final = 32
PASSTHROUGH_SHARE: Final = 0.8
ADDED_P50_MS: Final = 0.3
# Prism's req/s over each peer's, at least.
OVER_PEERS: Final = {"portkey": 2.0, "litellm": 20.0}
# An exact-cache hit against the passthrough's miss: a hit must be cheaper than any proxying.
HIT_OVER_PASSTHROUGH: Final = 1.5
HIT_SCENARIO: Final = "cache-hit"
COLUMNS: Final = ("upstream", "passthrough", "prism", "portkey", "litellm")
PEER_LABELS: Final = {"portkey": "Portkey", "litellm": "LiteLLM"}
LEGEND: Final = (
    "upstream = the fake alone; prism row 'ratio' = its req/s over the passthrough's, a peer's ="
    " Prism's req/s over that peer's;\n'added' = p50 over the passthrough's p50; usage rows = the rows"
    " Postgres got for Prism's key during all its\nruns (warm-ups and probes included) for the requests"
    " answered: up to one more per connection and run (cut off\nas a run ends) is expected, fewer is a"
    " row lost. Each server ran alone"
)


@dataclass(frozen=True, slots=True)
class Figures:
    """One server's runs: latency at 1 connection, throughput at 32; its usage rows if it writes any."""

    at_1: Runs
    at_32: Runs
    usage: UsageCount | None = None

    @property
    def rps(self) -> float:
        return self.at_32.rps

    @property
    def p50_ms(self) -> float:
        return self.at_1.p50_ms

    @property
    def failures(self) -> int:
        return self.at_1.failures + self.at_32.failures


@dataclass(frozen=True, slots=True)
class Floor:
    """The passthrough answering the scenario's POST itself, with no upstream: what the server and
    Starlette alone cost a request, at 32 connections."""

    rps: float
    cpu_us: float  # the server's CPU a request


@dataclass(frozen=True, slots=True)
class SideBySide:
    scenario: str
    summary: str
    repeats: int
    figures: Mapping[str, Figures]
    # A peer that was not measured, and why.
    skipped: Mapping[str, str] = field(default_factory=dict)
    floor: Floor | None = None

    def ratio(self, over: str, system: str = "prism") -> float | None:
        mine, theirs = self.figures.get(system), self.figures.get(over)
        if mine is None or theirs is None or not theirs.rps:
            return None
        return mine.rps / theirs.rps

    def added_p50_ms(self, system: str = "prism") -> float | None:
        mine, floor = self.figures.get(system), self.figures.get("passthrough")
        return None if mine is None or floor is None else mine.p50_ms - floor.p50_ms


def _cell(value: float | None, shown: str) -> str:
    return f"{'-' if value is None else shown:>12}"


def table(row: SideBySide) -> str:
    def line(label: str, value: Callable[[str], tuple[float | None, str]]) -> str:
        return f"{label:<20}" + "".join(_cell(*value(column)) for column in COLUMNS)

    def rps(column: str) -> tuple[float | None, str]:
        figures = row.figures.get(column)
        return (None, "") if figures is None else (figures.rps, f"{figures.rps:,.0f}")

    def ratio(column: str) -> tuple[float | None, str]:
        over = "passthrough" if column == "prism" else column if column in OVER_PEERS else None
        value = None if over is None else row.ratio(over)
        return value, f"{value or 0:.2f}x"

    def p50(column: str) -> tuple[float | None, str]:
        figures = row.figures.get(column)
        return (None, "") if figures is None else (figures.p50_ms, f"{figures.p50_ms:.2f}")

    def added(column: str) -> tuple[float | None, str]:
        value = None if column in ("upstream", "passthrough") else row.added_p50_ms(column)
        return value, f"{value or 0:+.2f}"

    def usage(column: str) -> UsageCount | None:
        figures = row.figures.get(column)
        return None if figures is None else figures.usage

    def usage_rows(column: str) -> tuple[float | None, str]:
        count = usage(column)
        return (None, "") if count is None else (count.rows, f"{count.rows:,}")

    def answered(column: str) -> tuple[float | None, str]:
        count = usage(column)
        return (None, "") if count is None else (count.answered, f"{count.answered:,}")

    lines = [
        f"{row.scenario}: {row.summary} (median of {row.repeats} runs)",
        f"{'':<20}" + "".join(f"{column:>12}" for column in COLUMNS),
        line(f"req/s @{THROUGHPUT_CONNECTIONS}", rps),
        line("  ratio", ratio),
        line(f"p50 ms @{LATENCY_CONNECTIONS}", p50),
        line("  added", added),
        line("usage rows", usage_rows),
        line("  requests answered", answered),
    ]
    lines.extend(f"{PEER_LABELS.get(name, name)}: {reason}" for name, reason in row.skipped.items())
    return "\n".join(lines)


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def target_lines(row: SideBySide) -> list[str]:
    lines: list[str] = []
    share = row.ratio("passthrough")
    if share is not None:
        lines.append(
            f"{row.scenario}: Prism req/s @{THROUGHPUT_CONNECTIONS} = {share:.2f}x the passthrough's"
            f" (target ≥ {PASSTHROUGH_SHARE:g}x) {_verdict(share >= PASSTHROUGH_SHARE)}"
        )
    added = row.added_p50_ms()
    if added is not None and row.scenario == "chat":
        lines.append(
            f"{row.scenario}: Prism p50 @{LATENCY_CONNECTIONS} = {added:+.2f} ms over the passthrough's"
            f" (target ≤ {ADDED_P50_MS:g} ms) {_verdict(added <= ADDED_P50_MS)}"
        )
    for peer, least in OVER_PEERS.items():
        label, over = PEER_LABELS[peer], row.ratio(peer)
        if over is not None:
            lines.append(
                f"{row.scenario}: Prism req/s @{THROUGHPUT_CONNECTIONS} = {over:.2f}x {label}'s"
                f" (target ≥ {least:g}x) {_verdict(over >= least)}"
            )
        elif peer in row.skipped:
            lines.append(f"{row.scenario}: Prism ≥ {least:g}x {label}: not measured")
    return lines


def hit_target_lines(side_by_side: Sequence[SideBySide], rows: Sequence[Comparison]) -> list[str]:
    """Issue 11's exact-cache hit target: Prism's hits/s at 32 over the passthrough's chat req/s."""
    hit = next(
        (row for row in rows if (row.scenario, row.connections) == (HIT_SCENARIO, THROUGHPUT_CONNECTIONS)),
        None,
    )
    miss = next((row for row in side_by_side if row.scenario == "chat"), None)
    floor = None if miss is None else miss.figures.get("passthrough")
    if hit is None or floor is None or not floor.rps:
        return []
    share = hit.prism.rps / floor.rps
    return [
        f"{HIT_SCENARIO}: Prism hits/s @{THROUGHPUT_CONNECTIONS} = {share:.2f}x the passthrough's chat req/s"
        f" (target ≥ {HIT_OVER_PASSTHROUGH:g}x) {_verdict(share >= HIT_OVER_PASSTHROUGH)}"
    ]


def floor_lines(side_by_side: Sequence[SideBySide]) -> list[str]:
    """What the hit target leaves a hit above the server's own floor (both at 32 connections)."""
    miss = next((row for row in side_by_side if row.scenario == "chat"), None)
    through = None if miss is None else miss.figures.get("passthrough")
    if miss is None or miss.floor is None or through is None or not through.rps:
        return []
    floor, hits = miss.floor, HIT_OVER_PASSTHROUGH * through.rps
    budget_us = 1e6 / hits
    return [
        f"floor: the passthrough answering the POST itself (no upstream): {floor.rps:,.0f} req/s"
        f" @{THROUGHPUT_CONNECTIONS}, {floor.cpu_us:,.0f} µs of server CPU a request",
        f"floor: {HIT_OVER_PASSTHROUGH:g}x the passthrough's chat req/s is {hits:,.0f} hits/s,"
        f" {budget_us:,.0f} µs of a core a hit: {budget_us - floor.cpu_us:+,.0f} µs over this floor"
        " for all of Prism's own work",
    ]


def notes(row: SideBySide) -> list[str]:
    return [
        f"FAILED: {row.scenario} via {name}: {figures.failures:,} failed requests"
        for name, figures in row.figures.items()
        if figures.failures
    ]


def from_rows(scenario: Scenario, rows: Iterable[Comparison]) -> dict[str, Figures] | None:
    """The upstream-alone and Prism figures the scenario's rows already hold, if both counts ran."""
    found = {row.connections: row for row in rows if row.scenario == scenario.name}
    low, high = found.get(LATENCY_CONNECTIONS), found.get(THROUGHPUT_CONNECTIONS)
    if low is None or high is None:
        return None
    usage = None if low.usage is None or high.usage is None else low.usage + high.usage
    return {"upstream": Figures(low.direct, high.direct), "prism": Figures(low.prism, high.prism, usage)}


@dataclass(frozen=True, slots=True)
class Bench:
    load: Load
    stack: Stack
    plan: repeated.Plan
    progress: Callable[[str], None]

    def figures(self, scenario: Scenario, gateway: peers.Gateway) -> Figures:
        request = Request(gateway.url, scenario.body, gateway.headers, unique=scenario.unique)
        low, high = (
            repeated.measure(self.load, self.stack, request, connections, self.plan, gateway.pid).runs
            for connections in (LATENCY_CONNECTIONS, THROUGHPUT_CONNECTIONS)
        )
        measured = Figures(low, high)
        self.progress(
            f"  {scenario.name} via {gateway.name}: {measured.rps:,.0f} req/s @{THROUGHPUT_CONNECTIONS},"
            f" p50 {measured.p50_ms:.2f} ms @{LATENCY_CONNECTIONS}"
        )
        return measured

    def floor(self, scenario: Scenario, gateway: peers.Gateway) -> Floor:
        url = gateway.url.removesuffix(CHAT_PATH) + FLOOR_PATH
        request = Request(url, scenario.body, gateway.headers, unique=scenario.unique)
        measured = repeated.measure(
            self.load, self.stack, request, THROUGHPUT_CONNECTIONS, self.plan, gateway.pid
        )
        cpu_us = 1e6 * measured.server_cpu_seconds / max(measured.runs.requests, 1)
        self.progress(f"  floor via {gateway.name}: {measured.runs.rps:,.0f} req/s, {cpu_us:,.0f} µs CPU")
        return Floor(measured.runs.rps, cpu_us)


def measure(
    bench: Bench, scenarios: Sequence[Scenario], rows: Sequence[Comparison], workdir: Path
) -> list[SideBySide]:
    measured = {
        scenario.name: figures
        for scenario in scenarios
        if scenario.name in SCENARIOS and (figures := from_rows(scenario, rows))
    }
    chosen = [scenario for scenario in scenarios if scenario.name in measured]
    if not chosen:
        return []
    upstream, env = bench.stack.fake_base, bench.stack.env
    skipped: dict[str, str] = {}
    floor: Floor | None = None
    launches: dict[str, peers.Launch | str] = {"passthrough": peers.passthrough(upstream, env)}
    launches.update(peers.launches(upstream, env, workdir))
    for name, launch in launches.items():
        if isinstance(launch, str):
            skipped[name] = launch
            bench.progress(f"  {PEER_LABELS.get(name, name)}: {launch}")
            continue
        try:
            with peers.started(launch, workdir) as gateway:
                for scenario in chosen:
                    measured[scenario.name][name] = bench.figures(scenario, gateway)
                if name == "passthrough":
                    floor = bench.floor(chosen[0], gateway)
        except StackError as error:
            skipped[name] = f"did not start: {error}"
            bench.progress(f"  {PEER_LABELS.get(name, name)}: {skipped[name]}")
    return [
        SideBySide(
            scenario.name, scenario.summary, bench.plan.repeats, measured[scenario.name], skipped, floor
        )
        for scenario in chosen
    ]
