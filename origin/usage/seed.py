"""Realistic usage rows for load tests and demos: pure, seeded, no I/O.

Traffic follows a daily rhythm (quiet nights, busy afternoons, calmer weekends) and is skewed
across projects and tag values; about half of it comes as sessions of 2-40 turns that keep their
project, tags and model. Every cache status appears, edge hits with their PoP, and a few errors.
"""

import math
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from shared.usage import BYPASS, CACHE_PROVIDER, HIT_EXACT, HIT_EXACT_EDGE, HIT_SEMANTIC, MISS, UsageRow


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    provider: str
    cents_per_m_in: float
    cents_per_m_out: float
    weight: float


@dataclass(frozen=True, slots=True)
class SeedProject:
    org_id: str
    project_id: str
    key_id: str


MODELS: Final = (
    Model("gpt-4o-mini", "openai", 15, 60, 0.35),
    Model("gpt-4o", "openai", 250, 1000, 0.15),
    Model("claude-3-5-haiku", "anthropic", 80, 400, 0.2),
    Model("claude-3-5-sonnet", "anthropic", 300, 1500, 0.12),
    Model("llama-3.1-70b", "groq", 59, 79, 0.1),
    Model("deepseek-chat", "deepseek", 27, 110, 0.08),
)
FEATURES: Final = (
    "search",
    "chat",
    "summarise",
    "onboarding",
    "support",
    "code-review",
    "translate",
    "export",
)
TEAMS: Final = ("growth", "core", "platform", "data", "mobile")
ENVS: Final = ("prod", "staging", "dev")
ID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "prism:usage-seed")
ENV_WEIGHTS: Final = (0.8, 0.15, 0.05)
REGIONS: Final = ("SIN", "FRA", "SFO", "IAD", "LHR", "NRT", "GRU", "SYD")
STATUSES: Final = (MISS, HIT_EXACT, HIT_SEMANTIC, HIT_EXACT_EDGE, BYPASS)
STATUS_WEIGHTS: Final = (0.55, 0.15, 0.05, 0.18, 0.07)
MODES: Final = ("balanced", "cheap", "quality")
TASKS: Final = ("chat", "code", "summarize", "extract", "translate")
ERRORS: Final = ((502, "upstream_error"), (504, "upstream_timeout"), (503, "upstream_rate_limited"))
SESSION_SHARE: Final = 0.5


def _zipf(count: int) -> list[float]:
    return [1 / (rank + 1) for rank in range(count)]


def hour_weight(hour: datetime) -> float:
    """Relative traffic of one UTC hour: peaks mid-afternoon, dips before dawn, weekends at 60 %."""
    daily = 1 + 0.75 * math.sin((hour.hour - 9) / 24 * 2 * math.pi)
    return daily * (0.6 if hour.weekday() >= 5 else 1.0)


def hourly_counts(rows: int, end: datetime, days: int) -> list[tuple[datetime, int]]:
    """How many rows each hour of the ``days`` before ``end`` gets: ``rows`` in all."""
    last = end.replace(minute=0, second=0, microsecond=0)
    hours = [last - timedelta(hours=h) for h in range(days * 24 - 1, -1, -1)]
    weights = [hour_weight(h) for h in hours]
    scale = rows / sum(weights)
    counts = [int(w * scale) for w in weights]
    for index in range(rows - sum(counts)):  # the rounding remainder, spread over the busiest hours
        counts[index % len(counts)] += 1
    return list(zip(hours, counts, strict=True))


class RowMaker:
    def __init__(self, projects: Sequence[SeedProject], seed: int) -> None:
        self._rng = random.Random(seed)
        self._projects = list(projects)
        self._project_weights = _zipf(len(projects))
        self._feature_weights = _zipf(len(FEATURES))
        self._team_weights = _zipf(len(TEAMS))
        self._model_weights = [m.weight for m in MODELS]
        self._sessions = 0
        self._seed = seed
        self._made = 0

    def _next_request_id(self) -> str:
        # The n-th row of a seed has the same id whatever ``end`` is (its times and, near ``end``, its
        # sessions differ from run to run), so a re-run inserts nothing the first run made.
        self._made += 1
        return str(uuid.uuid5(ID_NAMESPACE, f"{self._seed}:{self._made}"))

    def _tags(self) -> dict[str, str] | None:
        rng = self._rng
        tags: dict[str, str] = {}
        if rng.random() < 0.85:
            tags["feature"] = rng.choices(FEATURES, self._feature_weights)[0]
        if rng.random() < 0.6:
            tags["team"] = rng.choices(TEAMS, self._team_weights)[0]
        if rng.random() < 0.7:
            tags["env"] = rng.choices(ENVS, ENV_WEIGHTS)[0]
        return tags or None

    def _row(
        self,
        project: SeedProject,
        at: datetime,
        model: Model,
        tags: dict[str, str] | None,
        session: str | None,
    ) -> UsageRow:
        rng = self._rng
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        hit = status in (HIT_EXACT, HIT_SEMANTIC, HIT_EXACT_EDGE)
        tokens_in = int(rng.lognormvariate(6.5, 0.9))
        tokens_out = int(rng.lognormvariate(5.3, 0.8))
        cached = int(tokens_in * rng.random() * 0.8) if status == MISS and rng.random() < 0.3 else 0
        price = round((tokens_in * model.cents_per_m_in + tokens_out * model.cents_per_m_out) / 1e6, 8)
        failed = not hit and rng.random() < 0.03
        status_code, error_code = rng.choice(ERRORS) if failed else (200, None)
        if status == HIT_EXACT_EDGE:
            latency = rng.randrange(3, 40)
        elif hit:
            latency = rng.randrange(2, 25)
        else:
            latency = int(rng.lognormvariate(6.8, 0.6))
        return UsageRow(
            org_id=project.org_id,
            project_id=project.project_id,
            key_id=project.key_id,
            request_id=self._next_request_id(),
            created_at=at,
            mode=rng.choice(MODES),
            task_type=rng.choice(TASKS),
            model_used=model.name,
            provider=CACHE_PROVIDER if hit else model.provider,
            tokens_in=tokens_in,
            tokens_out=0 if failed else tokens_out,
            tokens_cached_in=cached,
            cost_provider_cents=0.0 if hit or failed else price,
            cost_total_cents=0.0 if hit or failed else price,
            latency_ms=latency,
            was_streaming=rng.random() < 0.4,
            success=not failed,
            status_code=status_code,
            error_code=error_code,
            session_id=session,
            request_tags=tags,
            cache_status=status,
            cache_saved_cents=price if hit else 0.0,
            edge_region=rng.choice(REGIONS) if status == HIT_EXACT_EDGE else None,
        )

    def hour(self, start: datetime, count: int, *, end: datetime) -> list[UsageRow]:
        """``count`` rows from the hour at ``start`` on, before ``end`` (a session's turns may run into
        the next hour)."""
        rng = self._rng
        rows: list[UsageRow] = []
        while len(rows) < count:
            project = rng.choices(self._projects, self._project_weights)[0]
            model = rng.choices(MODELS, self._model_weights)[0]
            at = min(start + timedelta(seconds=rng.random() * 3600), end - timedelta(seconds=1))
            if rng.random() >= SESSION_SHARE:
                rows.append(self._row(project, at, model, self._tags(), None))
                continue
            self._sessions += 1
            session, tags = f"sess-{self._sessions:08d}-{rng.getrandbits(24):06x}", self._tags()
            for _ in range(min(rng.randint(2, 40), count - len(rows))):
                rows.append(self._row(project, at, model, tags, session))
                at += timedelta(seconds=rng.uniform(4, 90))
                if at >= end:
                    break
        return rows


def generate(
    projects: Sequence[SeedProject], rows: int, *, end: datetime, days: int, seed: int
) -> Iterator[list[UsageRow]]:
    """The rows hour by hour, oldest first: one list per hour."""
    maker = RowMaker(projects, seed)
    for start, count in hourly_counts(rows, end, days):
        if count:
            yield maker.hour(start, count, end=end)
