"""The reports against real Postgres: every number is checked against the raw rows."""

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from origin.stores import postgres
from origin.usage import reports
from origin.usage.filters import Cursor, Page, RequestFilters, Window
from origin.usage.reports import REQUEST_FIELDS
from tests.origin.usage.traffic import edge_row, random_rows, write_rows

HITS = ("hit-exact", "hit-semantic", "hit-exact-edge")
END = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=3)
WINDOW = Window(since=END - SPAN - timedelta(seconds=1), until=END + timedelta(seconds=1))


@dataclass
class Project:
    ids: dict[str, str]
    rows: list[dict[str, Any]]

    @property
    def scope(self) -> frozenset[str]:
        return frozenset({self.ids["project_id"]})


def _ids() -> dict[str, str]:
    return {"org_id": str(uuid4()), "project_id": str(uuid4()), "key_id": str(uuid4())}


async def _raw(pool: postgres.Pool, project_id: str) -> list[dict[str, Any]]:
    records = await pool.fetch("SELECT * FROM usage_logs WHERE project_id = $1", project_id)
    rows = [dict(record) for record in records]
    for row in rows:
        row["request_id"] = str(row["request_id"])
        row["request_tags"] = None if row["request_tags"] is None else json.loads(row["request_tags"])
    return rows


@pytest.fixture(scope="module")
async def traffic(pool: postgres.Pool, tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Project]:
    """Two projects of random traffic (edge hits included), and a row of the first outside the window."""
    rng = random.Random(10)
    mine, theirs = _ids(), _ids()
    rows = random_rows(rng, mine, 300, end=END, span=SPAN)
    rows += [edge_row(mine, END - timedelta(hours=5), session_id="s-1", request_tags={"feature": "chat"})]
    rows += [edge_row(mine, END - SPAN - timedelta(days=1))]  # outside WINDOW
    rows += random_rows(rng, theirs, 60, end=END, span=SPAN)
    await write_rows(pool, rows, tmp_path_factory.mktemp("spool"))
    first = await _raw(pool, mine["project_id"])
    second = await _raw(pool, theirs["project_id"])
    return Project(mine, first), Project(theirs, second)


def _in_window(rows: list[dict[str, Any]], window: Window = WINDOW) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if r["created_at"] >= window.since and (window.until is None or r["created_at"] < window.until)
    ]


def _total(rows: list[dict[str, Any]], column: str) -> Any:
    return sum((row[column] for row in rows), Decimal(0) if "cents" in column else 0)


def _rate(rows: list[dict[str, Any]]) -> float | None:
    hits = sum(r["cache_status"] in HITS for r in rows)
    misses = sum(r["cache_status"] == "miss" for r in rows)
    return None if hits + misses == 0 else hits / (hits + misses)


async def test_summary_is_the_sum_of_the_rows(pool: postgres.Pool, traffic: tuple[Project, Project]) -> None:
    mine = traffic[0]
    rows = _in_window(mine.rows)
    assert len(rows) == len(mine.rows) - 1 and any(r["cache_status"] == "hit-exact-edge" for r in rows)
    summary = await reports.summary(pool, mine.scope, WINDOW)
    assert summary.requests == len(rows)
    assert summary.errors == sum(not r["success"] for r in rows)
    assert summary.cost_cents == _total(rows, "cost_total_cents")
    assert summary.saved_cents == _total(rows, "cache_saved_cents")
    for column in ("tokens_in", "tokens_out", "tokens_cached_in"):
        assert getattr(summary, column) == _total(rows, column)
    statuses = Counter(r["cache_status"] for r in rows)
    assert summary.by_cache_status == {s: statuses[s] for s in reports.CACHE_STATUS_ORDER}
    assert summary.saved_cents_by_cache_status == {
        s: _total([r for r in rows if r["cache_status"] == s], "cache_saved_cents")
        for s in reports.CACHE_STATUS_ORDER
    }
    assert summary.hit_rate == _rate(rows)
    body = summary.to_json()
    assert body["cost_cents"] == float(_total(rows, "cost_total_cents"))
    assert list(body) == [
        "requests",
        "errors",
        "cost_cents",
        "saved_cents",
        "tokens_in",
        "tokens_out",
        "tokens_cached_in",
        "by_cache_status",
        "saved_cents_by_cache_status",
        "hit_rate",
    ]


async def test_the_window_is_half_open(pool: postgres.Pool, traffic: tuple[Project, Project]) -> None:
    mine = traffic[0]
    stamp = sorted(r["created_at"] for r in mine.rows)[len(mine.rows) // 2]
    before = Window(since=WINDOW.since, until=stamp)
    after = Window(since=stamp, until=WINDOW.until)
    first = await reports.summary(pool, mine.scope, before)
    second = await reports.summary(pool, mine.scope, after)
    assert first.requests == len(_in_window(mine.rows, before))
    assert first.requests + second.requests == len(_in_window(mine.rows))
    unbounded = await reports.summary(pool, mine.scope, Window(since=WINDOW.since))
    assert unbounded.requests == len(_in_window(mine.rows))


async def test_nothing_to_divide_gives_no_hit_rate(pool: postgres.Pool) -> None:
    empty = await reports.summary(pool, frozenset({str(uuid4())}), WINDOW)
    assert empty.requests == 0 and empty.cost_cents == 0 and empty.hit_rate is None
    assert empty.to_json()["hit_rate"] is None


@pytest.mark.parametrize("key", ["feature", "team", "absent"])
async def test_tag_groups_count_each_row_once_and_sum_to_the_summary(
    pool: postgres.Pool, traffic: tuple[Project, Project], key: str
) -> None:
    mine = traffic[0]
    rows = _in_window(mine.rows)
    report = await reports.by_tag(pool, mine.scope, WINDOW, key)
    expected: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:
        expected.setdefault((row["request_tags"] or {}).get(key), []).append(row)
    assert {group.value for group in report.groups} == set(expected)
    for group in report.groups:
        members = expected[group.value]
        assert group.requests == len(members)
        assert group.cost_cents == _total(members, "cost_total_cents")
        assert group.saved_cents == _total(members, "cache_saved_cents")
        assert group.hits == sum(r["cache_status"] in HITS for r in members)
        assert group.to_json()["hit_rate"] == _rate(members)
    summary = await reports.summary(pool, mine.scope, WINDOW)
    assert sum(g.requests for g in report.groups) == summary.requests
    assert sum((g.cost_cents for g in report.groups), Decimal(0)) == summary.cost_cents
    assert sum((g.saved_cents for g in report.groups), Decimal(0)) == summary.saved_cents
    costs = [g.cost_cents for g in report.groups]
    assert costs == sorted(costs, reverse=True)


def _newest_first(rows: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(rows, key=lambda r: (r["created_at"], r["request_id"]), reverse=True)
    return [r["request_id"] for r in ordered]


async def test_pages_walk_every_row_once_newest_first(
    pool: postgres.Pool, traffic: tuple[Project, Project]
) -> None:
    mine = traffic[0]
    seen: list[str] = []
    page = Page(limit=7)
    while True:
        result = await reports.requests_page(pool, mine.scope, WINDOW, RequestFilters(), page)
        assert len(result.data) <= 7
        seen += [row.values["request_id"] for row in result.data]
        if result.next_cursor is None:
            break
        page = Page(limit=7, after=Cursor.decode(result.next_cursor))
    assert seen == _newest_first(_in_window(mine.rows))


async def test_a_row_carries_the_listed_fields(pool: postgres.Pool, traffic: tuple[Project, Project]) -> None:
    mine = traffic[0]
    filters = RequestFilters(cache_status="hit-exact-edge", session="s-1")
    result = await reports.requests_page(pool, mine.scope, WINDOW, filters, Page(limit=500))
    edge = next(r for r in result.data if r.values["request_tags"] == {"feature": "chat"})
    raw = next(r for r in mine.rows if r["request_id"] == edge.values["request_id"])
    body = edge.to_json()
    assert tuple(body) == REQUEST_FIELDS
    assert {name: raw[name] for name in REQUEST_FIELDS if name not in ("created_at", "request_tags")} == {
        name: edge.values[name] for name in REQUEST_FIELDS if name not in ("created_at", "request_tags")
    }
    assert body["edge_region"] == "SIN" and body["created_at"] == raw["created_at"].isoformat()


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        (RequestFilters(session="s-2"), lambda r: r["session_id"] == "s-2"),
        (RequestFilters(cache_status="miss"), lambda r: r["cache_status"] == "miss"),
        (RequestFilters(model="beta"), lambda r: r["model_used"] == "beta"),
        (RequestFilters(success=False), lambda r: not r["success"]),
        (
            RequestFilters(tags=(("feature", "search"), ("team", "core"))),
            lambda r: (r["request_tags"] or {}).items() >= {("feature", "search"), ("team", "core")},
        ),
        (
            RequestFilters(tags=(("feature", "chat"),), success=True, cache_status="hit-exact-edge"),
            lambda r: (
                (r["request_tags"] or {}).get("feature") == "chat"
                and r["success"]
                and r["cache_status"] == "hit-exact-edge"
            ),
        ),
    ],
)
async def test_filters_keep_exactly_the_matching_rows(
    pool: postgres.Pool, traffic: tuple[Project, Project], filters: RequestFilters, keep: Any
) -> None:
    mine = traffic[0]
    expected = _newest_first([r for r in _in_window(mine.rows) if keep(r)])
    assert expected, "the traffic should hold rows for every filter"
    found = [
        row.values["request_id"] async for row in reports.iter_requests(pool, mine.scope, WINDOW, filters)
    ]
    assert found == expected


async def test_export_walks_in_chunks_from_a_cursor(
    pool: postgres.Pool, traffic: tuple[Project, Project]
) -> None:
    mine = traffic[0]
    expected = _newest_first(_in_window(mine.rows))
    start = next(r for r in mine.rows if r["request_id"] == expected[9])
    after = Cursor(start["created_at"], start["request_id"])
    found = [
        row.values["request_id"]
        async for row in reports.iter_requests(
            pool, mine.scope, WINDOW, RequestFilters(), after=after, chunk=13
        )
    ]
    assert found == expected[10:]


async def test_a_session_is_its_turns_oldest_first(
    pool: postgres.Pool, traffic: tuple[Project, Project]
) -> None:
    mine, theirs = traffic
    turns = [r for r in _in_window(mine.rows) if r["session_id"] == "s-1"]
    report = await reports.session(pool, mine.scope, WINDOW, "s-1")
    assert report is not None
    assert [t.values["request_id"] for t in report.turns] == _newest_first(turns)[::-1]
    assert report.cost_cents == _total(turns, "cost_total_cents")
    assert report.saved_cents == _total(turns, "cache_saved_cents")
    body = report.to_json()
    assert body["requests"] == len(turns) and body["session_id"] == "s-1"
    assert any(t["cache_status"] == "hit-exact-edge" for t in body["turns"])
    # The other project has a session "s-1" too: it is never mixed in.
    assert any(r["session_id"] == "s-1" for r in theirs.rows)
    assert await reports.session(pool, mine.scope, WINDOW, "s-nope") is None


@pytest.mark.parametrize("bucket", ["hour", "day"])
async def test_timeseries_points_are_the_rows_per_bucket(
    pool: postgres.Pool, traffic: tuple[Project, Project], bucket: str
) -> None:
    mine = traffic[0]
    rows = _in_window(mine.rows)
    series = await reports.timeseries(pool, mine.scope, WINDOW, bucket)
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    assert [b.t - a.t for a, b in zip(series.points, series.points[1:], strict=False)] == [step] * (
        len(series.points) - 1
    )
    assert series.points[0].t <= WINDOW.since < series.points[0].t + step
    assert WINDOW.until is not None and series.points[-1].t < WINDOW.until
    for point in series.points:
        members = [r for r in rows if point.t <= r["created_at"] < point.t + step]
        assert point.requests == len(members)
        assert point.cost_cents == _total(members, "cost_total_cents")
        assert point.saved_cents == _total(members, "cache_saved_cents")
        assert point.hits_edge == sum(r["cache_status"] == "hit-exact-edge" for r in members)
        assert point.hits_origin == sum(r["cache_status"] in ("hit-exact", "hit-semantic") for r in members)
        assert point.misses == sum(r["cache_status"] == "miss" for r in members)
        assert point.errors == sum(not r["success"] for r in members)
    assert sum(p.requests for p in series.points) == len(rows)
    if bucket == "hour":
        assert any(p.requests == 0 for p in series.points)  # quiet hours are zeros, not gaps


async def test_scope_hides_other_projects(pool: postgres.Pool, traffic: tuple[Project, Project]) -> None:
    mine, theirs = traffic
    both = mine.scope | theirs.scope
    together = await reports.summary(pool, both, WINDOW)
    assert together.requests == len(_in_window(mine.rows)) + len(_in_window(theirs.rows))
    narrowed = Window(WINDOW.since, WINDOW.until, projects=theirs.scope)
    assert (await reports.summary(pool, both, narrowed)).requests == len(_in_window(theirs.rows))
    with pytest.raises(reports.ProjectNotVisible):
        await reports.summary(pool, mine.scope, narrowed)
    with pytest.raises(reports.ProjectNotVisible):
        await reports.requests_page(pool, mine.scope, narrowed, RequestFilters(), Page())
