"""``create_app(settings)``: wiring only."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from origin.settings import Settings


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings) -> Starlette:
    app = Starlette(routes=[Route("/healthz", healthz)])
    app.state.settings = settings
    return app
