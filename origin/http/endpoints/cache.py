"""``DELETE /v1/cache``: erase what Prism keeps for the key's project, by ``session``, ``tag`` or ``all``.
``GET /v1/cache/residency``: where that lives and for how long."""

from starlette.requests import Request

from origin.cache.erasure import parse_selector
from origin.cache.exact import REDIS_ERRORS
from origin.cache.residency import residency
from origin.http.errors import ApiError, invalid_request
from origin.http.responses import JSONResponse
from origin.state import AppState
from origin.usage.filters import FilterError


async def erase_cache(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    key = await state.auth.authenticate(request.headers.get("authorization"))
    try:
        selector = parse_selector(request.query_params.multi_items())
    except FilterError as error:
        raise invalid_request(str(error), code="invalid_parameter", param=error.param) from None
    try:
        deleted = await state.cache_index.erase(key.project_id, selector)
    except REDIS_ERRORS:
        raise ApiError(
            503, "The cache is unavailable right now; retry shortly.", code="cache_unavailable"
        ) from None
    return JSONResponse({"object": "cache.deleted", "deleted": deleted})


async def cache_residency(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    key = await state.auth.authenticate(request.headers.get("authorization"))
    project = (await state.controls.get(key.org_id, key.project_id)).settings
    try:
        indexed = await state.cache_index.listed(key.project_id)
    except REDIS_ERRORS:
        raise ApiError(
            503, "The cache is unavailable right now; retry shortly.", code="cache_unavailable"
        ) from None
    report = residency(
        key.project_id,
        project,
        state.settings,
        semantic=state.semantic is not None and project.semantic_cache,
        kv_enabled=state.kv.enabled,
        memory_ttl_seconds=state.memory.retained_seconds(project.cache_max_ttl_seconds),
        indexed=indexed,
    )
    return JSONResponse(report)
