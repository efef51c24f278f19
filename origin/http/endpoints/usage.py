"""``GET /v1/usage/...``: the usage reports for the projects the caller may see.

The caller's scope is a set of project ids: an API key's own project, or, for a request without an
``Authorization`` header that carries a dashboard session cookie, every project of the user's org.
"""

from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from origin.dashboard.auth import signed_in
from origin.http.errors import ApiError, invalid_request
from origin.http.responses import JSONResponse
from origin.state import AppState
from origin.stores import postgres
from origin.stores.postgres import Pool
from origin.usage import reports
from origin.usage.export import csv_line
from origin.usage.filters import (
    PAGE_PARAMS,
    REQUEST_FILTER_PARAMS,
    WINDOW_PARAMS,
    FilterError,
    Params,
    check_known,
    parse_bucket,
    parse_page,
    parse_request_filters,
    parse_request_id,
    parse_session_id,
    parse_tag_key,
    parse_window,
)
from origin.usage.provider_cache import provider_cache
from origin.usage.reports import REQUEST_FIELDS, Scope


async def caller_scope(request: Request) -> Scope:
    state: AppState = request.app.state.prism
    header = request.headers.get("authorization")
    if header is None and (viewer := await signed_in(request)) is not None:
        return viewer.member.scope
    key = await state.auth.authenticate(header)
    return frozenset({key.project_id})


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except FilterError as error:
        raise invalid_request(str(error), code="invalid_parameter", param=error.param) from None
    except reports.ProjectNotVisible:
        raise ApiError(404, "No such project.", code="not_found", param="project") from None


def _params(request: Request, allowed: Collection[str]) -> Params:
    params = request.query_params.multi_items()
    with _refusals():
        check_known(params, allowed)
    return params


def _pool(request: Request) -> Pool:
    state: AppState = request.app.state.prism
    return state.pool


async def usage_summary(request: Request) -> JSONResponse:
    scope = await caller_scope(request)
    params = _params(request, WINDOW_PARAMS)
    with _refusals():
        report = await reports.summary(_pool(request), scope, parse_window(params))
    summary = report.to_json()
    if (authorization := request.headers.get("authorization")) is not None:
        summary["key"] = await _key_month(request.app.state.prism, authorization)
    return JSONResponse(summary)


async def _key_month(state: AppState, authorization: str) -> dict[str, Any]:
    """The calling key's own month: what it spent, its limits and what its budget has left."""
    key = await state.auth.authenticate(authorization)
    month = await postgres.key_month_usage(state.pool, key.key_id)
    return {
        "id": key.key_id,
        "prefix": key.prefix,
        "month_requests": month.requests,
        "month_cost_cents": month.cost_cents,
        "budget_cents": key.budget_cents,
        "budget_left_cents": await state.admission.budget_left(key),
        "rpm": key.rpm,
        "tpm": key.tpm,
        "models": list(key.models),
        "expires_at": None
        if key.expires_at is None
        else datetime.fromtimestamp(key.expires_at, UTC).isoformat(),
    }


async def usage_by_tag(request: Request) -> JSONResponse:
    scope = await caller_scope(request)
    params = _params(request, WINDOW_PARAMS | {"key"})
    with _refusals():
        report = await reports.by_tag(_pool(request), scope, parse_window(params), parse_tag_key(params))
    return JSONResponse(report.to_json())


async def usage_by_model(request: Request) -> JSONResponse:
    scope = await caller_scope(request)
    params = _params(request, WINDOW_PARAMS)
    with _refusals():
        report = await reports.by_model(_pool(request), scope, parse_window(params))
    return JSONResponse(report.to_json())


async def usage_sessions(request: Request) -> JSONResponse:
    scope = await caller_scope(request)
    params = _params(request, WINDOW_PARAMS | {"limit"})
    with _refusals():
        window, page = parse_window(params), parse_page(params)
        report = await reports.sessions(_pool(request), scope, window, page.limit)
    return JSONResponse(report.to_json())


async def usage_requests(request: Request) -> JSONResponse:
    scope = await caller_scope(request)
    params = _params(request, WINDOW_PARAMS | REQUEST_FILTER_PARAMS | PAGE_PARAMS)
    with _refusals():
        window, filters, page = parse_window(params), parse_request_filters(params), parse_page(params)
        report = await reports.requests_page(_pool(request), scope, window, filters, page)
    return JSONResponse(report.to_json())


async def usage_request(request: Request) -> JSONResponse:
    scope = await caller_scope(request)
    _params(request, ())
    with _refusals():
        request_id = parse_request_id(request.path_params["request_id"])
    row = await reports.request(_pool(request), scope, request_id)
    if row is None:
        raise ApiError(404, "No such request.", code="not_found", param="request_id")
    return JSONResponse(row.to_json())


async def usage_requests_csv(request: Request) -> StreamingResponse:
    """Every matching row (no page size), from ``cursor`` if given; each chunk is its own query."""
    scope = await caller_scope(request)
    params = _params(request, WINDOW_PARAMS | REQUEST_FILTER_PARAMS | {"cursor"})
    with _refusals():
        window, filters, page = parse_window(params), parse_request_filters(params), parse_page(params)
        reports.visible_projects(scope, window)
    pool = _pool(request)

    async def lines() -> AsyncIterator[str]:
        yield csv_line(REQUEST_FIELDS)
        async for row in reports.iter_requests(pool, scope, window, filters, after=page.after):
            yield csv_line([row.values[name] for name in REQUEST_FIELDS])

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="usage-requests.csv"'},
    )


async def usage_session(request: Request) -> JSONResponse:
    scope = await caller_scope(request)
    params = _params(request, WINDOW_PARAMS)
    with _refusals():
        window = parse_window(params)
        session_id = parse_session_id(request.path_params["session_id"])
        report = await reports.session(_pool(request), scope, window, session_id)
    if report is None:
        raise ApiError(404, "No such session in this window.", code="not_found", param="session_id")
    return JSONResponse(report.to_json())


async def usage_timeseries(request: Request) -> JSONResponse:
    scope = await caller_scope(request)
    params = _params(request, WINDOW_PARAMS | {"bucket"})
    with _refusals():
        window = parse_window(params)
        report = await reports.timeseries(_pool(request), scope, window, parse_bucket(params, window))
    return JSONResponse(report.to_json())


async def usage_provider_cache(request: Request) -> JSONResponse:
    """The providers' prompt caches: session health, prefix stability, stampedes."""
    scope = await caller_scope(request)
    params = _params(request, WINDOW_PARAMS)
    state: AppState = request.app.state.prism
    with _refusals():
        report = await provider_cache(
            state.pool,
            scope,
            parse_window(params),
            state.config.prices,
            state.survey,
            state.settings.warmup_grace_seconds,
        )
    return JSONResponse(report.to_json())
