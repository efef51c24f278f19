"""The usage reports computed in Python from raw rows: what the rollup-backed reports must equal."""

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from origin.stores import postgres
from origin.usage import reports
from origin.usage.filters import BUCKETS, Window, bucket_start

Row = dict[str, Any]
HITS = ("hit-exact", "hit-semantic", "hit-exact-edge")


async def raw_rows(pool: postgres.Pool, project_ids: Iterable[str]) -> list[Row]:
    records = await pool.fetch(
        "SELECT * FROM usage_logs WHERE project_id = ANY($1::uuid[])", list(project_ids)
    )
    rows = [dict(record) for record in records]
    for row in rows:
        row["request_id"] = str(row["request_id"])
        row["project_id"] = str(row["project_id"])
        row["request_tags"] = None if row["request_tags"] is None else json.loads(row["request_tags"])
    return rows


def in_window(rows: list[Row], scope: frozenset[str], window: Window) -> list[Row]:
    projects = window.projects or scope
    return [
        r
        for r in rows
        if r["project_id"] in projects
        and r["created_at"] >= window.since
        and (window.until is None or r["created_at"] < window.until)
    ]


def _cents(rows: list[Row], column: str) -> Decimal:
    return sum((r[column] for r in rows), Decimal(0))


def summary(rows: list[Row]) -> reports.Summary:
    return reports.Summary(
        requests=len(rows),
        errors=sum(not r["success"] for r in rows),
        cost_cents=_cents(rows, "cost_total_cents"),
        saved_cents=_cents(rows, "cache_saved_cents"),
        tokens_in=sum(r["tokens_in"] for r in rows),
        tokens_out=sum(r["tokens_out"] for r in rows),
        tokens_cached_in=sum(r["tokens_cached_in"] for r in rows),
        by_cache_status={s: sum(r["cache_status"] == s for r in rows) for s in reports.CACHE_STATUS_ORDER},
        saved_cents_by_cache_status={
            s: _cents([r for r in rows if r["cache_status"] == s], "cache_saved_cents")
            for s in reports.CACHE_STATUS_ORDER
        },
    )


def _grouped(rows: list[Row], value: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    groups: dict[Any, list[Row]] = {}
    for row in rows:
        groups.setdefault(value(row), []).append(row)
    return groups


def groups(rows: list[Row], value: Callable[[Row], str | None]) -> list[reports.Group]:
    found = [
        reports.Group(
            name,
            len(members),
            _cents(members, "cost_total_cents"),
            _cents(members, "cache_saved_cents"),
            sum(r["cache_status"] in HITS for r in members),
            sum(r["cache_status"] == "miss" for r in members),
        )
        for name, members in _grouped(rows, value).items()
    ]
    # The API's order: costliest first, then most requests, then by value with NULL last.
    return sorted(found, key=lambda g: (-g.cost_cents, -g.requests, g.value is None, g.value or ""))


def by_tag(rows: list[Row], key: str) -> list[reports.Group]:
    return groups(rows, lambda r: (r["request_tags"] or {}).get(key))


def sessions(rows: list[Row], limit: int) -> list[reports.SessionTotals]:
    found = [
        reports.SessionTotals(
            session_id,
            project_id,
            len(members),
            _cents(members, "cost_total_cents"),
            _cents(members, "cache_saved_cents"),
            min(r["created_at"] for r in members),
            max(r["created_at"] for r in members),
        )
        for (project_id, session_id), members in _grouped(
            [r for r in rows if r["session_id"]], lambda r: (r["project_id"], r["session_id"])
        ).items()
    ]
    found.sort(key=lambda s: (s.session_id, s.project_id))
    found.sort(key=lambda s: s.last_at, reverse=True)
    found.sort(key=lambda s: s.cost_cents, reverse=True)
    return found[:limit]


def timeseries(rows: list[Row], window: Window, bucket: str, now: datetime) -> list[reports.Point]:
    step: timedelta = BUCKETS[bucket]
    members = _grouped(rows, lambda r: bucket_start(r["created_at"], bucket))
    points = {
        t: reports.Point(
            t,
            len(group),
            _cents(group, "cost_total_cents"),
            _cents(group, "cache_saved_cents"),
            sum(r["cache_status"] == "hit-exact-edge" for r in group),
            sum(r["cache_status"] in ("hit-exact", "hit-semantic") for r in group),
            sum(r["cache_status"] == "miss" for r in group),
            sum(not r["success"] for r in group),
        )
        for t, group in members.items()
    }
    t, end = bucket_start(window.since, bucket), window.until or now
    while t < end:
        points.setdefault(t, reports.Point(t))
        t += step
    return [points[t] for t in sorted(points)]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
