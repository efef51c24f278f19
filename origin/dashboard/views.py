"""What every signed-in page shares: its parameters, the pickers and nav carried in links, its refusals.

A page handler is ``async (Page) -> Response``; ``page(allowed)`` wraps it: not signed in → the
sign-in page, a bad parameter → 400 naming it, another org's project → 404.
"""

import functools
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from origin.dashboard.auth import Viewer, app_state, signed_in
from origin.dashboard.render import Renderer
from origin.stores.postgres import Pool
from origin.usage import reports
from origin.usage.filters import WINDOW_PARAMS, FilterError, Params, Window, check_known, parse_window

LOGIN_PATH: Final = "/dashboard/login"
PRESETS: Final = ("24h", "7d", "30d", "90d")
DEFAULT_PRESET: Final = "30d"
NAV: Final = (
    ("Overview", "/dashboard"),
    ("Requests", "/dashboard/requests"),
    ("Features", "/dashboard/features"),
    ("Sessions", "/dashboard/sessions"),
    ("Provider cache", "/dashboard/cache"),
)
_WINDOW_ORDER: Final = ("project", "since", "until")


class NotFound(LookupError):
    """The thing a page shows is not among the viewer's (the same answer as absent)."""


def href(path: str, pairs: Sequence[tuple[str, str]] = ()) -> str:
    return f"{path}?{urlencode(list(pairs))}" if pairs else path


def bucket_for(window: Window, now: datetime) -> str:
    """Minutes for a few hours, hours up to about a week, days beyond: a chart of 20-400 marks."""
    span = (window.until or now) - window.since
    if span <= timedelta(hours=6):
        return "minute"
    return "hour" if span <= timedelta(days=8) else "day"


@dataclass(frozen=True, slots=True)
class Page:
    request: Request
    viewer: Viewer
    params: Params  # the query string's non-empty pairs (an empty form field means "not given")
    window: Window
    renderer: Renderer

    @property
    def pool(self) -> Pool:
        return app_state(self.request).pool

    @property
    def scope(self) -> reports.Scope:
        return self.viewer.member.scope

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.params if key == name]

    def value(self, name: str, default: str = "") -> str:
        found = self.values(name)
        return found[0] if found else default

    @property
    def window_pairs(self) -> list[tuple[str, str]]:
        return [(k, v) for name in _WINDOW_ORDER for k, v in self.params if k == name]

    @property
    def own_pairs(self) -> list[tuple[str, str]]:
        """This page's own parameters (filters, key), without the window and without a cursor."""
        return [(k, v) for k, v in self.params if k not in WINDOW_PARAMS and k != "cursor"]

    def link(self, path: str, *pairs: tuple[str, str]) -> str:
        """``path`` in the same project and time range."""
        return href(path, [*self.window_pairs, *pairs])

    def link_in_project(self, path: str, project_id: str) -> str:
        """``path`` in the same time range, narrowed to one project (a session belongs to one)."""
        pairs = [(k, v) for k, v in self.window_pairs if k != "project"]
        return href(path, [*pairs, ("project", project_id)])

    def project_name(self, project_id: str) -> str:
        names = {project.project_id: project.name for project in self.viewer.member.projects}
        return names.get(project_id, project_id)

    def render(self, template: str, *, title: str, status: int = 200, **values: Any) -> Response:
        return self.renderer.page(self.request, template, {**self.chrome(title), **values}, status=status)

    def chrome(self, title: str) -> dict[str, Any]:
        path = self.request.url.path
        since = self.value("since")
        until = self.value("until")
        current = since or DEFAULT_PRESET
        keep = [(k, v) for k, v in self.params if k == "project"] + self.own_pairs
        return {
            "title": title,
            "viewer": self.viewer,
            "link": self.link,
            "link_in_project": self.link_in_project,
            "project_name": self.project_name,
            "nav": [
                {"label": label, "href": self.link(target), "current": path == target}
                for label, target in NAV
            ],
            "scope": {
                "action": path,
                "hidden": self.own_pairs,
                "project": self.value("project"),
                "projects": self.viewer.member.projects,
                "since": since,
                "until": until,
                "presets": [
                    {
                        "label": preset,
                        "href": href(path, [*keep, ("since", preset)]),
                        "current": preset == current and not until,
                    }
                    for preset in PRESETS
                ],
            },
        }


Handler = Callable[[Page], Awaitable[Response]]


def page(
    renderer: Renderer, allowed: Collection[str]
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            viewer = await signed_in(request)
            if viewer is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(href(LOGIN_PATH, [("next", target)]), status_code=303)
            params = [(k, v) for k, v in request.query_params.multi_items() if v.strip()]
            try:
                check_known(params, WINDOW_PARAMS | set(allowed))
                window = parse_window(params)
                reports.visible_projects(viewer.member.scope, window)
                return await handler(Page(request, viewer, params, window, renderer))
            except FilterError as error:
                return error_page(renderer, request, viewer, 400, f"Bad parameter: {error.param}", str(error))
            except (reports.ProjectNotVisible, NotFound):
                return error_page(
                    renderer, request, viewer, 404, "Not found", "Nothing here is yours to see."
                )

        return endpoint

    return wrap


def error_page(
    renderer: Renderer, request: Request, viewer: Viewer | None, status: int, title: str, message: str
) -> Response:
    context: dict[str, Any] = {"title": title, "message": message, "viewer": viewer, "status": status}
    if viewer is not None:
        context["nav"] = [{"label": label, "href": target, "current": False} for label, target in NAV]
    return renderer.page(request, "error.html", context, status=status)


def now() -> datetime:
    return datetime.now(UTC)
