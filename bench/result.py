"""What one load run measured, in the same shape whichever generator produced it, and what repeated
runs of one request measured."""

import json
import math
import statistics
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: int = 0
    # Answers whose X-Prism-Cache header says "hit…" (counted only when asked: it costs generator time).
    cache_hits: int = 0
    ttfb_p50_ms: float | None = None
    ttfb_p99_ms: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def failures(self) -> int:
        return self.non_2xx + self.socket_errors

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "LoadResult":
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class Runs:
    """The measured runs of one request at one connection count: each figure (req/s, a latency) is the
    runs' median, each count (requests, seconds, failures, cache hits) their total."""

    results: tuple[LoadResult, ...]

    @property
    def rps(self) -> float:
        return statistics.median(result.rps for result in self.results)

    @property
    def p50_ms(self) -> float:
        return statistics.median(result.p50_ms for result in self.results)

    @property
    def p99_ms(self) -> float:
        return statistics.median(result.p99_ms for result in self.results)

    @property
    def ttfb_p50_ms(self) -> float | None:
        """None when no run measured it (wrk does not)."""
        values = [result.ttfb_p50_ms for result in self.results if result.ttfb_p50_ms is not None]
        return statistics.median(values) if values else None

    @property
    def requests(self) -> int:
        return sum(result.requests for result in self.results)

    @property
    def seconds(self) -> float:
        return sum(result.seconds for result in self.results)

    @property
    def non_2xx(self) -> int:
        return sum(result.non_2xx for result in self.results)

    @property
    def socket_errors(self) -> int:
        return sum(result.socket_errors for result in self.results)

    @property
    def failures(self) -> int:
        return self.non_2xx + self.socket_errors

    @property
    def cache_hits(self) -> int:
        return sum(result.cache_hits for result in self.results)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values), max(1, math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]
