"""``/healthz`` (the process answers), ``/readyz`` (its stores answer), ``/metrics``."""

import asyncio

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from origin.http.responses import JSONResponse
from origin.state import AppState


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _check_redis(state: AppState) -> str:
    try:
        await asyncio.wait_for(state.redis.ping(), timeout=1.0)
    except (RedisError, OSError, TimeoutError) as error:
        return f"unreachable ({type(error).__name__})"
    return "ok"


async def _check_postgres(state: AppState) -> str:
    try:
        await state.probes.run("postgres", lambda: state.pool.fetchval("SELECT 1"), timeout=1.0)
    except Exception as error:  # any failure means "not ready", whatever the driver raised
        return f"unreachable ({type(error).__name__})"
    return "ok"


async def readyz(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    redis_status, postgres_status = await asyncio.gather(_check_redis(state), _check_postgres(state))
    checks = {
        "redis": redis_status,
        "postgres": postgres_status,
        "usage_spool_rows": state.writer.spool_size,
    }
    ready = redis_status == "ok" and postgres_status == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


async def metrics(request: Request) -> Response:
    state: AppState = request.app.state.prism
    body = state.metrics.render(state.breakers.states, state.writer.queue_depth, state.writer.spool_size)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
