"""Random usage rows for the report tests, written through the real usage writer."""

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from origin.stores import postgres
from origin.usage.spool import Spool
from origin.usage.writer import UsageWriter
from shared.usage import CACHE_PROVIDER, CACHE_STATUSES, HIT_EXACT_EDGE, UsageRow

FEATURES = ("search", "chat", "summarise")
TEAMS = ("growth", "core")
SESSIONS = ("s-1", "s-2", "s-3")
REGIONS = ("SIN", "FRA", "SFO")


def random_row(rng: random.Random, ids: Mapping[str, Any], created_at: datetime) -> UsageRow:
    status = rng.choice(sorted(CACHE_STATUSES))
    tags: dict[str, str] = {}
    if rng.random() < 0.7:
        tags["feature"] = rng.choice(FEATURES)
    if rng.random() < 0.5:
        tags["team"] = rng.choice(TEAMS)
    hit = status.startswith("hit")
    success = rng.random() < 0.85 or hit
    # Six decimals at most: numeric(20, 10) stores them exactly, so sums can be compared exactly.
    return UsageRow(
        **ids,
        created_at=created_at,
        model_used=rng.choice(("alpha", "beta")),
        provider=CACHE_PROVIDER if hit else "fakeoai",
        cache_status=status,
        tokens_in=rng.randrange(0, 500),
        tokens_out=rng.randrange(0, 300),
        tokens_cached_in=rng.randrange(0, 100),
        cost_total_cents=0.0 if hit else round(rng.random(), 6),
        cache_saved_cents=round(rng.random() / 10, 6) if hit else 0.0,
        latency_ms=rng.randrange(1, 900),
        success=success,
        status_code=200 if success else 502,
        error_code=None if success else "upstream_error",
        session_id=rng.choice((None, *SESSIONS)),
        request_tags=tags or None,
        edge_region=rng.choice(REGIONS) if status == HIT_EXACT_EDGE else None,
        task_type=rng.choice((None, "chat", "code")),
    )


def random_rows(
    rng: random.Random, ids: Mapping[str, Any], count: int, *, end: datetime, span: timedelta
) -> list[UsageRow]:
    rows = [random_row(rng, ids, end - span * rng.random()) for _ in range(count)]
    # Rows sharing one timestamp: the page order must break the tie on request_id.
    same = end - span / 2
    rows += [random_row(rng, ids, same) for _ in range(max(3, count // 10))]
    return rows


def edge_row(ids: Mapping[str, Any], created_at: datetime, **changes: Any) -> UsageRow:
    fields: dict[str, Any] = {
        "cache_status": HIT_EXACT_EDGE,
        "provider": CACHE_PROVIDER,
        "model_used": "alpha",
        "cache_saved_cents": 0.0042,
        "edge_region": "SIN",
        "request_tags": {"feature": "search"},
    }
    return UsageRow(**ids, created_at=created_at, **(fields | changes))


async def write_rows(pool: postgres.Pool, rows: list[UsageRow], spool_dir: Path) -> None:
    writer = UsageWriter(pool, Spool(spool_dir))
    await writer.start()
    for row in rows:
        writer.submit(row)
    await writer.flush()
    await writer.stop()
    assert writer.spool_size == 0
