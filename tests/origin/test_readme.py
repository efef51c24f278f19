"""The README lists every endpoint the origin serves (the dashboard's pages aside)."""

import re
from pathlib import Path

from starlette.routing import Route

from origin.app import create_app
from origin.settings import Settings

# Parameters by place, not by name: the README says /v1/responses/{id} for /v1/responses/{response_id}.
README = re.sub(r"\{[^}]*\}", "{}", (Path(__file__).parents[2] / "README.md").read_text())


def test_every_route_is_in_the_readme() -> None:
    app = create_app(Settings(env="development", key_pepper="p" * 16, ingest_secret="i" * 16))
    paths = {
        re.sub(r"\{[^}]*\}", "{}", route.path)
        for route in app.routes
        if isinstance(route, Route) and not route.path.startswith("/dashboard")
    }
    assert len(paths) > 30
    missing = sorted(path for path in paths if not re.search(re.escape(path) + r"[`\s?]", README))
    assert not missing, f"README does not name {missing}"
