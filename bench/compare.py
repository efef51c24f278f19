"""One row of the report: a scenario at one concurrency, via Prism and straight to the fake."""

from dataclasses import dataclass

from bench.result import Runs
from bench.usagerows import UsageCount


@dataclass(frozen=True, slots=True)
class Comparison:
    scenario: str
    connections: int
    direct: Runs
    prism: Runs
    # Whether the scenario means Prism to answer from its cache.
    expect_hits: bool = False
    # CPU time the origin process used during the measured runs via Prism.
    prism_cpu_seconds: float = 0.0
    # CPU used by processes outside the bench during the measured runs (the larger of the two), in cores.
    others_cores: float = 0.0
    # Time to first byte, measured by the Python client (streaming scenarios only).
    direct_ttfb: Runs | None = None
    prism_ttfb: Runs | None = None
    # Prism's usage rows against its requests (the time-to-first-byte probe's included).
    usage: UsageCount | None = None

    @property
    def ratio(self) -> float:
        """Prism's requests/s over the direct baseline's."""
        return self.prism.rps / self.direct.rps if self.direct.rps else 0.0

    @property
    def prism_cpu_us_per_request(self) -> float:
        """The origin's own CPU cost of one request (Redis, Postgres and the fake not included)."""
        return self.prism_cpu_seconds * 1e6 / self.prism.requests if self.prism.requests else 0.0

    @property
    def prism_cpu_percent(self) -> float:
        """Of one core: 100 % means the single worker was saturated."""
        return 100 * self.prism_cpu_seconds / self.prism.seconds if self.prism.seconds else 0.0

    @property
    def added_p50_ms(self) -> float:
        return self.prism.p50_ms - self.direct.p50_ms

    @property
    def added_p99_ms(self) -> float:
        return self.prism.p99_ms - self.direct.p99_ms

    @property
    def added_ttfb_p50_ms(self) -> float | None:
        if self.direct_ttfb is None or self.prism_ttfb is None:
            return None
        if self.direct_ttfb.ttfb_p50_ms is None or self.prism_ttfb.ttfb_p50_ms is None:
            return None
        return self.prism_ttfb.ttfb_p50_ms - self.direct_ttfb.ttfb_p50_ms

    @property
    def failures(self) -> int:
        runs = (self.direct, self.prism, self.direct_ttfb, self.prism_ttfb)
        return sum(run.failures for run in runs if run is not None)
