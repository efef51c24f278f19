"""``create_app(settings)``: wiring only."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from origin.dashboard.routes import dashboard_routes
from origin.http.endpoints.admin import admin_routes
from origin.http.endpoints.cache import cache_residency, erase_cache
from origin.http.endpoints.chat import chat_completions
from origin.http.endpoints.embeddings import create_embeddings
from origin.http.endpoints.health import healthz, metrics, readyz
from origin.http.endpoints.internal import ingest_usage
from origin.http.endpoints.messages import count_tokens, create_message
from origin.http.endpoints.models import list_models, retrieve_model
from origin.http.endpoints.responses import (
    create_response,
    delete_response,
    list_input_items,
    retrieve_response,
)
from origin.http.endpoints.sessions import delete_session
from origin.http.endpoints.usage import (
    usage_by_model,
    usage_by_tag,
    usage_provider_cache,
    usage_request,
    usage_requests,
    usage_requests_csv,
    usage_session,
    usage_sessions,
    usage_summary,
    usage_timeseries,
)
from origin.http.endpoints.warmups import delete_warmup, list_warmups, save_warmup
from origin.http.errors import ApiError, internal_error
from origin.ops.logs import configure_logging
from origin.settings import Settings
from origin.state import AppState


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = (
        f"{request.method} {request.url.path} is not a Prism endpoint."
        if exc.status_code == 404
        else exc.detail
    )
    return ApiError(exc.status_code, message, code=codes.get(exc.status_code, "http_error")).response()


async def _unexpected(request: Request, exc: Exception) -> Response:
    return internal_error(exc).response()


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        state = await AppState.start(settings)
        app.state.prism = state
        try:
            yield
        finally:
            await state.close()

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", create_embeddings, methods=["POST"]),
        Route("/v1/messages", create_message, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1/responses", create_response, methods=["POST"]),
        Route("/v1/responses/{response_id}", retrieve_response, methods=["GET"]),
        Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
        Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
        Route("/v1/sessions/{session_id:path}", delete_session, methods=["DELETE"]),
        Route("/v1/cache", erase_cache, methods=["DELETE"]),
        Route("/v1/cache/residency", cache_residency, methods=["GET"]),
        Route("/v1/cache/warmups", save_warmup, methods=["POST"]),
        Route("/v1/cache/warmups", list_warmups, methods=["GET"]),
        Route("/v1/cache/warmups/{name}", delete_warmup, methods=["DELETE"]),
        Route("/v1/usage/summary", usage_summary, methods=["GET"]),
        Route("/v1/usage/by-tag", usage_by_tag, methods=["GET"]),
        Route("/v1/usage/by-model", usage_by_model, methods=["GET"]),
        Route("/v1/usage/requests", usage_requests, methods=["GET"]),
        Route("/v1/usage/requests.csv", usage_requests_csv, methods=["GET"]),
        Route("/v1/usage/requests/{request_id}", usage_request, methods=["GET"]),
        Route("/v1/usage/sessions", usage_sessions, methods=["GET"]),
        Route("/v1/usage/sessions/{session_id:path}", usage_session, methods=["GET"]),
        Route("/v1/usage/timeseries", usage_timeseries, methods=["GET"]),
        Route("/v1/usage/provider-cache", usage_provider_cache, methods=["GET"]),
        Route("/internal/usage", ingest_usage, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *admin_routes(),
        *dashboard_routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected},
    )
