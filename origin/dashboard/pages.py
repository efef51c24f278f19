"""The dashboard's pages: parse the query, call the usage reports, render. Nothing is summed here."""

import asyncio
from collections.abc import Sequence
from typing import Final

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from origin.dashboard import charts
from origin.dashboard.auth import app_state
from origin.dashboard.charts import Series
from origin.dashboard.render import Renderer, money
from origin.dashboard.views import NotFound, Page, bucket_for, href, now, page
from origin.usage import reports
from origin.usage.filters import (
    PAGE_PARAMS,
    REQUEST_FILTER_PARAMS,
    parse_bucket,
    parse_page,
    parse_request_filters,
    parse_request_id,
    parse_session_id,
    parse_tag_key,
)
from origin.usage.provider_cache import provider_cache
from origin.usage.reports import Group, Timeseries
from shared.usage import CACHE_STATUSES, HIT_EXACT, HIT_EXACT_EDGE, HIT_SEMANTIC

DEFAULT_TAG_KEY: Final = "feature"
TOP: Final = 8
SESSIONS_SHOWN: Final = 50


def _label(value: str | None, missing: str) -> str:
    return missing if value is None else value


def _group_bars(name: str, title: str, groups: Sequence[Group], missing: str) -> str:
    items = [(_label(group.value, missing), group.cost_cents) for group in groups[:TOP]]
    return charts.bars(name, title, items, css="s-cost", fmt=money)


def _timeline_charts(series: Timeseries) -> dict[str, str]:
    times = [point.t for point in series.points]
    points = series.points
    return {
        "hit_rate": charts.stacked_columns(
            "hit-rate",
            "Hit rate over time: edge hits, origin hits and misses",
            times,
            [
                Series("edge hits", [p.hits_edge for p in points], "s-edge"),
                Series("origin hits", [p.hits_origin for p in points], "s-origin"),
                Series("misses", [p.misses for p in points], "s-miss"),
            ],
            bucket=series.bucket,
        ),
        "spend": charts.line(
            "spend",
            "Spend over time",
            times,
            Series("spend", [p.cost_cents for p in points], "s-spend"),
            bucket=series.bucket,
            fmt=money,
        ),
    }


def routes(renderer: Renderer) -> list[BaseRoute]:
    @page(renderer, ())
    async def overview(view: Page) -> Response:
        bucket = parse_bucket([("bucket", bucket_for(view.window, now()))], view.window)
        summary, series, models, features = await asyncio.gather(
            reports.summary(view.pool, view.scope, view.window),
            reports.timeseries(view.pool, view.scope, view.window, bucket),
            reports.by_model(view.pool, view.scope, view.window),
            reports.by_tag(view.pool, view.scope, view.window, DEFAULT_TAG_KEY),
        )
        saved = summary.saved_cents_by_cache_status
        return view.render(
            "overview.html",
            title="Overview",
            summary=summary,
            savings=[
                ("edge", saved[HIT_EXACT_EDGE]),
                ("origin exact", saved[HIT_EXACT]),
                ("semantic", saved[HIT_SEMANTIC]),
            ],
            charts={
                **_timeline_charts(series),
                "top_models": _group_bars("top-models", "Top models by spend", models.groups, "(none)"),
                "top_features": _group_bars(
                    "top-features", "Top features by spend", features.groups, "(untagged)"
                ),
            },
        )

    @page(renderer, REQUEST_FILTER_PARAMS | PAGE_PARAMS)
    async def requests(view: Page) -> Response:
        filters, paging = parse_request_filters(view.params), parse_page(view.params)
        found = await reports.requests_page(view.pool, view.scope, view.window, filters, paging)
        shown = [pair for pair in view.params if pair[0] != "cursor"]
        return view.render(
            "requests.html",
            title="Requests",
            rows=[row.values for row in found.data],
            filters=filters,
            statuses=sorted(CACHE_STATUSES),
            tags=view.values("tag"),
            next_href=None
            if found.next_cursor is None
            else href(view.request.url.path, [*shown, ("cursor", found.next_cursor)]),
            first_href=href(view.request.url.path, shown) if paging.after is not None else None,
        )

    @page(renderer, ())
    async def request_detail(view: Page) -> Response:
        request_id = parse_request_id(view.request.path_params["request_id"])
        row = await reports.request(view.pool, view.scope, request_id)
        if row is None:
            raise NotFound()
        return view.render("request.html", title=f"Request {request_id}", row=row.values)

    @page(renderer, {"key"})
    async def features(view: Page) -> Response:
        key = parse_tag_key(view.params if view.values("key") else [("key", DEFAULT_TAG_KEY)])
        report = await reports.by_tag(view.pool, view.scope, view.window, key)
        return view.render(
            "features.html",
            title=f"By {key}",
            key=key,
            groups=report.groups,
            chart=_group_bars("feature-cost", f"Spend by {key}", report.groups, f"(no {key})"),
        )

    @page(renderer, {"limit"})
    async def sessions(view: Page) -> Response:
        limit = parse_page(view.params).limit if view.values("limit") else SESSIONS_SHOWN
        report = await reports.sessions(view.pool, view.scope, view.window, limit)
        top = [(item.session_id, item.cost_cents) for item in report.data[:TOP]]
        return view.render(
            "sessions.html",
            title="Sessions",
            sessions=report.data,
            chart=charts.bars("session-cost", "Costliest sessions", top, css="s-cost", fmt=money),
        )

    @page(renderer, ())
    async def session_detail(view: Page) -> Response:
        session_id = parse_session_id(view.request.path_params["session_id"])
        report = await reports.session(view.pool, view.scope, view.window, session_id)
        if report is None:
            raise NotFound()
        turns = [turn.values for turn in report.turns]
        items = [
            (f"#{i} {turn['created_at']:%H:%M:%S}", turn["cost_total_cents"])
            for i, turn in enumerate(turns, 1)
        ]
        return view.render(
            "session.html",
            title=f"Session {session_id}",
            report=report,
            turns=turns,
            chart=charts.bars("session-turns", "Cost per turn", items, css="s-cost", fmt=money),
        )

    @page(renderer, ())
    async def cache(view: Page) -> Response:
        state = app_state(view.request)
        report = await provider_cache(
            view.pool,
            view.scope,
            view.window,
            state.config.prices,
            state.survey,
            state.settings.warmup_grace_seconds,
        )
        return view.render("cache.html", title="Provider cache", report=report.to_json())

    return [
        Route("/dashboard", overview, methods=["GET"]),
        Route("/dashboard/cache", cache, methods=["GET"]),
        Route("/dashboard/requests", requests, methods=["GET"]),
        Route("/dashboard/requests/{request_id}", request_detail, methods=["GET"]),
        Route("/dashboard/features", features, methods=["GET"]),
        Route("/dashboard/sessions", sessions, methods=["GET"]),
        Route("/dashboard/sessions/{session_id:path}", session_detail, methods=["GET"]),
    ]
