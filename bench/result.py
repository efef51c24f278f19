"""What one load run measured, in the same shape whichever generator produced it."""

import json
import math
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


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values), max(1, math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]
