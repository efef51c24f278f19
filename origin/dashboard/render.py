"""Templates, the filters they format numbers with, and the headers every dashboard page carries."""

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from origin.usage.reports import hit_rate

TEMPLATES: Final = Path(__file__).with_name("templates")
STATIC: Final = Path(__file__).with_name("static")
# Everything is served by the origin itself: no inline script, no third party, no framing (the sign-out
# button must not be clickable through someone else's page).
HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def money(cents: Decimal | float | int | None) -> str:
    """Cents as dollars: two decimals from a dollar up, four below (rows cost fractions of a cent)."""
    dollars = Decimal(str(cents or 0)) / 100
    if dollars == 0:
        return "$0.00"
    if abs(dollars) >= 1:
        return f"${dollars:,.2f}"
    return f"${dollars:.4f}" if abs(dollars) >= Decimal("0.0001") else "<$0.0001"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def count(value: int) -> str:
    return f"{value:,}"


def when(stamp: datetime) -> str:
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class Renderer:
    def __init__(self) -> None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(money=money, percent=percent, count=count, when=when)
        env.globals["hit_rate"] = hit_rate
        self._templates = Jinja2Templates(env=env)

    def page(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any],
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        return self._templates.TemplateResponse(
            request, name, dict(context), status_code=status, headers={**HEADERS, **(headers or {})}
        )
