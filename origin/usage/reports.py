"""The usage API's reports: typed functions over the pool, every number summed from ``usage_logs``
(whole UTC days and hours through the rollups of migration 0004, which equal the rows; the ragged
ends of a window, minutes, pages and single rows from the rows).

A caller's ``Scope`` is the set of project ids it may see (an API key: its project; a dashboard
session: its org's projects). ``Window.projects`` can only narrow that set, never widen it.
``hit_rate`` is hits / (hits + misses), where hits are ``hit-exact``, ``hit-semantic`` and
``hit-exact-edge`` and misses are ``miss`` (``bypass`` is neither); it is ``None`` when both are 0.
"""

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypeAlias

from origin.stores.postgres import Pool
from origin.stores.sql import query
from origin.usage.filters import BUCKETS, Cursor, Page, RequestFilters, Window, bucket_start
from shared.usage import BYPASS, HIT_EXACT, HIT_EXACT_EDGE, HIT_SEMANTIC, MISS

Scope: TypeAlias = frozenset[str]
CACHE_STATUS_ORDER: Final = (MISS, HIT_EXACT, HIT_SEMANTIC, HIT_EXACT_EDGE, BYPASS)
REQUEST_FIELDS: Final = (
    "request_id",
    "created_at",
    "model_used",
    "provider",
    "cache_status",
    "tokens_in",
    "tokens_out",
    "tokens_cached_in",
    "tokens_cache_write_5m",
    "tokens_cache_write_1h",
    "cost_total_cents",
    "cache_saved_cents",
    "latency_ms",
    "session_id",
    "request_tags",
    "edge_region",
    "success",
    "error_code",
    "task_type",
    "mode",
)
EXPORT_CHUNK: Final = 500


class ProjectNotVisible(LookupError):
    """A ``project`` filter names a project outside the caller's scope (or one that does not exist)."""


def hit_rate(hits: int, misses: int) -> float | None:
    return None if hits + misses == 0 else hits / (hits + misses)


def cents(value: Decimal) -> float:
    return float(value)


def visible_projects(scope: Scope, window: Window) -> list[str]:
    if window.projects is None:
        return sorted(scope)
    unseen = window.projects - scope
    if unseen:
        raise ProjectNotVisible(min(unseen))
    return sorted(window.projects)


def _window_args(scope: Scope, window: Window) -> tuple[list[str], datetime, datetime | None]:
    return visible_projects(scope, window), window.since, window.until


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    errors: int
    cost_cents: Decimal
    saved_cents: Decimal
    tokens_in: int
    tokens_out: int
    tokens_cached_in: int
    by_cache_status: dict[str, int]
    saved_cents_by_cache_status: dict[str, Decimal]

    @property
    def hit_rate(self) -> float | None:
        status = self.by_cache_status
        return hit_rate(status[HIT_EXACT] + status[HIT_SEMANTIC] + status[HIT_EXACT_EDGE], status[MISS])

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "cost_cents": cents(self.cost_cents),
            "saved_cents": cents(self.saved_cents),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "tokens_cached_in": self.tokens_cached_in,
            "by_cache_status": dict(self.by_cache_status),
            "saved_cents_by_cache_status": {
                status: cents(saved) for status, saved in self.saved_cents_by_cache_status.items()
            },
            "hit_rate": self.hit_rate,
        }


async def summary(pool: Pool, scope: Scope, window: Window) -> Summary:
    row = await pool.fetchrow(query("usage_summary"), *_window_args(scope, window))
    assert row is not None
    return Summary(
        requests=row["requests"],
        errors=row["errors"],
        cost_cents=row["cost_cents"],
        saved_cents=row["saved_cents"],
        tokens_in=row["tokens_in"],
        tokens_out=row["tokens_out"],
        tokens_cached_in=row["tokens_cached_in"],
        by_cache_status={status: row[_column(status)] for status in CACHE_STATUS_ORDER},
        saved_cents_by_cache_status={
            status: row["saved_" + _column(status)] for status in CACHE_STATUS_ORDER
        },
    )


def _column(cache_status: str) -> str:
    return cache_status.replace("-", "_")


@dataclass(frozen=True, slots=True)
class Group:
    """The rows sharing one value of a tag key, or of the model (``None``: rows without one)."""

    value: str | None
    requests: int
    cost_cents: Decimal
    saved_cents: Decimal
    hits: int
    misses: int

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "requests": self.requests,
            "cost_cents": cents(self.cost_cents),
            "saved_cents": cents(self.saved_cents),
            "hits": self.hits,
            "hit_rate": hit_rate(self.hits, self.misses),
        }


@dataclass(frozen=True, slots=True)
class GroupReport:
    key: str
    groups: list[Group]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "groups": [group.to_json() for group in self.groups]}


def _groups(rows: Sequence[Mapping[str, Any]]) -> list[Group]:
    return [
        Group(r["value"], r["requests"], r["cost_cents"], r["saved_cents"], r["hits"], r["misses"])
        for r in rows
    ]


async def by_tag(pool: Pool, scope: Scope, window: Window, key: str) -> GroupReport:
    """One group per value of tag ``key``; each row counts once, so the groups sum to the summary."""
    rows = await pool.fetch(query("usage_by_tag"), *_window_args(scope, window), key)
    return GroupReport(key, _groups(rows))


async def by_model(pool: Pool, scope: Scope, window: Window) -> GroupReport:
    rows = await pool.fetch(query("usage_by_model"), *_window_args(scope, window))
    return GroupReport("model", _groups(rows))


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One usage row as the API shows it (``REQUEST_FIELDS``, in that order)."""

    values: dict[str, Any]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "RequestRow":
        values = {name: record[name] for name in REQUEST_FIELDS}
        values["request_id"] = str(values["request_id"])
        if values["request_tags"] is not None:
            values["request_tags"] = json.loads(values["request_tags"])
        return cls(values)

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.values["created_at"], self.values["request_id"])

    def to_json(self) -> dict[str, Any]:
        out = dict(self.values)
        out["created_at"] = self.values["created_at"].isoformat()
        out["cost_total_cents"] = cents(self.values["cost_total_cents"])
        out["cache_saved_cents"] = cents(self.values["cache_saved_cents"])
        return out


@dataclass(frozen=True, slots=True)
class RequestsPage:
    data: list[RequestRow]
    next_cursor: str | None

    def to_json(self) -> dict[str, Any]:
        return {"data": [row.to_json() for row in self.data], "next_cursor": self.next_cursor}


async def request(pool: Pool, scope: Scope, request_id: str) -> RequestRow | None:
    """One row by id, or None when it is not in the caller's projects (the same answer as absent)."""
    row = await pool.fetchrow(query("usage_request"), sorted(scope), request_id)
    return None if row is None else RequestRow.from_record(row)


async def _fetch_requests(
    pool: Pool, scope: Scope, window: Window, filters: RequestFilters, after: Cursor | None, limit: int
) -> list[RequestRow]:
    tags = json.dumps(dict(filters.tags)) if filters.tags else None
    rows = await pool.fetch(
        query("usage_requests_page"),
        *_window_args(scope, window),
        filters.session,
        tags,
        filters.cache_status,
        filters.model,
        filters.success,
        None if after is None else after.created_at,
        None if after is None else after.request_id,
        limit,
    )
    return [RequestRow.from_record(row) for row in rows]


async def requests_page(
    pool: Pool, scope: Scope, window: Window, filters: RequestFilters, page: Page
) -> RequestsPage:
    # One row more than asked says whether a next page exists, so the last page has no cursor.
    rows = await _fetch_requests(pool, scope, window, filters, page.after, page.limit + 1)
    shown = rows[: page.limit]
    more = len(rows) > page.limit
    return RequestsPage(shown, shown[-1].cursor.encode() if more else None)


async def iter_requests(
    pool: Pool,
    scope: Scope,
    window: Window,
    filters: RequestFilters,
    *,
    after: Cursor | None = None,
    chunk: int = EXPORT_CHUNK,
) -> AsyncIterator[RequestRow]:
    """Every matching row, newest first, one keyset page at a time (no connection held between)."""
    while True:
        rows = await _fetch_requests(pool, scope, window, filters, after, chunk)
        for row in rows:
            yield row
        if len(rows) < chunk:
            return
        after = rows[-1].cursor


@dataclass(frozen=True, slots=True)
class SessionReport:
    session_id: str
    turns: list[RequestRow]
    cost_cents: Decimal = field(default=Decimal(0))
    saved_cents: Decimal = field(default=Decimal(0))

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "turns": [turn.to_json() for turn in self.turns],
            "requests": len(self.turns),
            "cost_cents": cents(self.cost_cents),
            "saved_cents": cents(self.saved_cents),
        }


@dataclass(frozen=True, slots=True)
class SessionTotals:
    """One session of one project (ids are the client's: two projects' "conv-1" are two sessions)."""

    session_id: str
    project_id: str
    requests: int
    cost_cents: Decimal
    saved_cents: Decimal
    first_at: datetime
    last_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "project_id": self.project_id,
            "requests": self.requests,
            "cost_cents": cents(self.cost_cents),
            "saved_cents": cents(self.saved_cents),
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class SessionList:
    data: list[SessionTotals]

    def to_json(self) -> dict[str, Any]:
        return {"data": [item.to_json() for item in self.data]}


async def sessions(pool: Pool, scope: Scope, window: Window, limit: int) -> SessionList:
    """The sessions with turns in the window, costliest first (their turns in the window only)."""
    rows = await pool.fetch(query("usage_sessions"), *_window_args(scope, window), limit)
    return SessionList(
        [
            SessionTotals(
                r["session_id"],
                str(r["project_id"]),
                r["requests"],
                r["cost_cents"],
                r["saved_cents"],
                r["first_at"],
                r["last_at"],
            )
            for r in rows
        ]
    )


async def session(pool: Pool, scope: Scope, window: Window, session_id: str) -> SessionReport | None:
    """The session's turns oldest first, or None when the caller has no row of it."""
    rows = await pool.fetch(query("usage_session_turns"), *_window_args(scope, window), session_id)
    if not rows:
        return None
    turns = [RequestRow.from_record(row) for row in rows]
    return SessionReport(
        session_id,
        turns,
        cost_cents=sum((turn.values["cost_total_cents"] for turn in turns), Decimal(0)),
        saved_cents=sum((turn.values["cache_saved_cents"] for turn in turns), Decimal(0)),
    )


@dataclass(frozen=True, slots=True)
class Point:
    t: datetime
    requests: int = 0
    cost_cents: Decimal = Decimal(0)
    saved_cents: Decimal = Decimal(0)
    hits_edge: int = 0
    hits_origin: int = 0
    misses: int = 0
    errors: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t.isoformat(),
            "requests": self.requests,
            "cost_cents": cents(self.cost_cents),
            "saved_cents": cents(self.saved_cents),
            "hits_edge": self.hits_edge,
            "hits_origin": self.hits_origin,
            "misses": self.misses,
            "errors": self.errors,
        }


@dataclass(frozen=True, slots=True)
class Timeseries:
    bucket: str
    points: list[Point]

    def to_json(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "points": [point.to_json() for point in self.points]}


async def timeseries(
    pool: Pool, scope: Scope, window: Window, bucket: str, *, now: datetime | None = None
) -> Timeseries:
    """One point per bucket from ``since`` to ``until`` (or now), empty buckets as zeros, so a chart
    shows a quiet hour as a dip rather than drawing a line across it. Hours and days come from the
    rollups, minutes from the rows."""
    if bucket == "minute":
        rows = await pool.fetch(query("usage_timeseries_minutes"), *_window_args(scope, window))
    else:
        rows = await pool.fetch(query("usage_timeseries"), *_window_args(scope, window), bucket)
    found = {
        row["t"]: Point(
            row["t"],
            row["requests"],
            row["cost_cents"],
            row["saved_cents"],
            row["hits_edge"],
            row["hits_origin"],
            row["misses"],
            row["errors"],
        )
        for row in rows
    }
    end = window.until or now or datetime.now(UTC)
    step: timedelta = BUCKETS[bucket]
    t = bucket_start(window.since, bucket)
    while t < end:
        found.setdefault(t, Point(t))
        t += step
    return Timeseries(bucket, [found[t] for t in sorted(found)])
