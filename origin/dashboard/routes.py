"""The dashboard's routes, for ``origin/app.py`` to mount: sign-in, pages and their static files."""

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from origin.dashboard import login, pages
from origin.dashboard.render import STATIC, Renderer


def dashboard_routes() -> list[BaseRoute]:
    renderer = Renderer()
    return [
        *login.routes(renderer),
        *pages.routes(renderer),
        Mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static"),
    ]
