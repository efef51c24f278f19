"""The named scenarios ``make bench`` runs, the other sections it runs, and the targets it reports against.

To add a scenario, append a ``Scenario`` to ``SCENARIOS`` (a name, a one-line summary, the request
body; optionally the connection counts, extra Prism headers, and ``unique=False`` when every request
must be the same, e.g. for a cache-hit scenario). Each one is measured via Prism and straight to the
fake provider at every connection count. A target is a ``Target`` in ``TARGETS``; targets only ever
print, they never fail the run.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bench.compare import Comparison
from bench.stack import MODEL
from shared import headers as h

PROMPT: Final = ({"role": "user", "content": "benchmark prompt"},)
# The miss path in full (cache read, single-flight lock, cache write), with entries that expire at once
# instead of filling the shared Redis with an hour's worth of one-off answers.
SHORT_LIVED: Final = {h.CACHE_TTL: "1"}
# The hit path: one entry, written by the warm-up, kept long enough for every later run.
HIT_TTL: Final = {h.CACHE_TTL: "600"}


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    body: Mapping[str, Any]
    connections: tuple[int, ...] = (1, 32)
    # True: each request's prompt ends in a fresh sequence number, so no cache can answer it.
    unique: bool = True
    # Whether Prism's answers should be cache hits; the report flags a row where they are not.
    expect_hits: bool = False
    prism_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass(frozen=True, slots=True)
class Target:
    label: str
    scenario: str
    connections: int
    measure: Callable[[Comparison], float]
    unit: str
    limit: float
    at_most: bool

    def met(self, comparison: Comparison) -> bool:
        value = self.measure(comparison)
        return value <= self.limit if self.at_most else value >= self.limit

    def describe(self, comparison: Comparison) -> str:
        sign = "≤" if self.at_most else "≥"
        value = self.measure(comparison)
        shown = f"{value:.2f}" if self.unit == "ms" else f"{value:,.0f}"
        verdict = "met" if self.met(comparison) else "MISSED"
        conns = "conn" if self.connections == 1 else "conns"
        return (
            f"{self.label} @{self.connections} {conns} ({self.scenario}): {shown} {self.unit} "
            f"(target {sign} {self.limit:,g} {self.unit}) {verdict}"
        )


SCENARIOS: Final = (
    Scenario(
        "chat",
        "chat completion, JSON answer, cache miss",
        {"model": MODEL, "messages": PROMPT},
        prism_headers=SHORT_LIVED,
    ),
    Scenario(
        "chat-stream",
        "chat completion, SSE answer, cache miss",
        {"model": MODEL, "messages": PROMPT, "stream": True},
        prism_headers=SHORT_LIVED,
    ),
    Scenario(
        "cache-hit",
        "chat completion answered from the exact cache, JSON",
        {"model": MODEL, "messages": PROMPT},
        unique=False,
        expect_hits=True,
        prism_headers=HIT_TTL,
    ),
    Scenario(
        "cache-hit-stream",
        "chat completion answered from the exact cache, SSE replay",
        {"model": MODEL, "messages": PROMPT, "stream": True},
        unique=False,
        expect_hits=True,
        prism_headers=HIT_TTL,
    ),
)


def _added_p50(comparison: Comparison) -> float:
    return comparison.added_p50_ms


def _prism_rps(comparison: Comparison) -> float:
    return comparison.prism.rps


# The issues' targets on this 2-core machine, for the non-cached path and the exact-cache hit path (both
# answer shapes), on one origin worker.
TARGETS: Final = (
    *(
        target
        for name in ("chat", "chat-stream")
        for target in (
            Target("added p50", name, 1, _added_p50, "ms", 2.0, at_most=True),
            Target("requests/s", name, 32, _prism_rps, "req/s", 1000.0, at_most=False),
        )
    ),
    *(
        Target("hits/s", name, 32, _prism_rps, "req/s", 2000.0, at_most=False)
        for name in ("cache-hit", "cache-hit-stream")
    ),
)


# Measurements of another shape than "one request, direct vs via Prism", each run by its own module.
SECTIONS: Final = {
    "singleflight": "N identical concurrent requests to a slow upstream → upstream calls (singleflight.py)",
    "edge": "the real Worker in Pyodide under Node: its hit path, and edge → origin on a miss (edge.py)",
    "ingest": "edge usage rows into the origin: its CPU per row, one per POST against batches (ingest.py)",
    "semantic": "semantic cache lookups at 10,000 entries per project+model; 50,000 with --semantic-large",
    "usage": "every usage API call's median and p95 on seeded databases of 1M and 10M rows (usage.py)",
}


def select(names: list[str]) -> tuple[list[Scenario], list[str]]:
    """The load scenarios and the sections named (all of both when none are), in their usual order."""
    known = {scenario.name: scenario for scenario in SCENARIOS}
    unknown = [name for name in names if name not in known and name not in SECTIONS]
    if unknown:
        raise KeyError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join([*known, *SECTIONS])}")
    if not names:
        return list(SCENARIOS), list(SECTIONS)
    return [known[name] for name in names if name in known], [name for name in SECTIONS if name in names]
