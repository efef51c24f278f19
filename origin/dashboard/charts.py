"""Server-rendered SVG charts: stacked columns and a line over time, and horizontal bars.

Every chart's root carries ``data-chart="NAME"``; every mark (column segment, point, bar) carries its
exact value in ``data-value`` (and ``data-series`` / ``data-t`` / ``data-label``) and a ``<title>``
tooltip, so a browser test reads the numbers a person sees. Colours come from the page's CSS classes.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, TypeAlias

from markupsafe import Markup, escape

Number: TypeAlias = int | float | Decimal
Format: TypeAlias = Callable[[float], str]

WIDTH: Final = 720
HEIGHT: Final = 260
LEFT: Final = 64
RIGHT: Final = 16
TOP: Final = 34  # room for the legend
BOTTOM: Final = 28
BAR_HEIGHT: Final = 22
BAR_GAP: Final = 8
LABEL_WIDTH: Final = 180
MAX_LABEL: Final = 26
X_LABELS: Final = 6


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[Number]
    css: str  # the class that colours it, e.g. "s-edge"


def plain(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def nice_ceiling(value: float, ticks: int = 4) -> tuple[float, float]:
    """An axis maximum >= ``value`` and its tick step: 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(value / step - 1e-9), step


def _attrs(**values: object) -> str:
    return " ".join(f'{name.replace("_", "-")}="{escape(str(value))}"' for name, value in values.items())


def _open(name: str, title: str, height: int, *, empty: bool = False) -> list[str]:
    ident = f"chart-{name}-title"
    return [
        f'<svg {_attrs(data_chart=name, data_empty=str(empty).lower())} class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{ident}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}">{escape(title)}</title>',
    ]


def _empty(name: str, title: str) -> Markup:
    parts = _open(name, title, 120, empty=True)
    parts.append(
        f'<text class="chart-empty" x="{WIDTH / 2}" y="64" text-anchor="middle">No data in this window</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend(series: Sequence[Series]) -> list[str]:
    parts, x = [], LEFT
    for item in series:
        parts.append(
            f'<g class="legend-item"><rect class="{item.css}" x="{x}" y="8" width="12" height="12" rx="2"/>'
        )
        parts.append(f'<text x="{x + 18}" y="18">{escape(item.name)}</text></g>')
        x += 34 + 8 * len(item.name)
    return parts


def _y_axis(maximum: float, step: float, fmt: Format) -> list[str]:
    parts = []
    plot_height = HEIGHT - TOP - BOTTOM
    ticks = round(maximum / step)
    for i in range(ticks + 1):
        y = HEIGHT - BOTTOM - plot_height * i / ticks
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(step * i))}</text>"
        )
    return parts


def _time_label(t: datetime, bucket: str) -> str:
    return t.strftime("%b %d") if bucket == "day" else t.strftime("%b %d %H:%M")


def _x_axis(times: Sequence[datetime], bucket: str, center: Callable[[int], float]) -> list[str]:
    y = HEIGHT - BOTTOM
    parts = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>']
    every = max(1, math.ceil(len(times) / X_LABELS))
    for i in range(0, len(times), every):
        parts.append(
            f'<text class="tick" x="{center(i):.1f}" y="{y + 18}" text-anchor="middle">'
            f"{escape(_time_label(times[i], bucket))}</text>"
        )
    return parts


def _scale(value: Number, maximum: float) -> float:
    return (HEIGHT - TOP - BOTTOM) * float(value) / maximum


def _center(i: int, count: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) / count * (i + 0.5)


def _time_frame(
    name: str, title: str, series: Sequence[Series], peak: float, fmt: Format
) -> tuple[list[str], float]:
    maximum, step = nice_ceiling(peak)
    return [*_open(name, title, HEIGHT), *_legend(series), *_y_axis(maximum, step, fmt)], maximum


def _time_mark(
    element: str, geometry: str, item: Series, t: datetime, value: Number, bucket: str, fmt: Format
) -> str:
    label = f"{_time_label(t, bucket)} · {item.name}: {fmt(float(value))}"
    marks = _attrs(data_series=item.name, data_t=t.isoformat(), data_value=value)
    return f'<{element} class="mark {item.css}" {geometry} {marks}><title>{escape(label)}</title></{element}>'


def stacked_columns(
    name: str,
    title: str,
    times: Sequence[datetime],
    series: Sequence[Series],
    *,
    bucket: str,
    fmt: Format = plain,
) -> Markup:
    """One column per time bucket, the series stacked bottom-up in the order given."""
    totals = [sum(float(item.values[i]) for item in series) for i in range(len(times))]
    if not times or max(totals) <= 0:
        return _empty(name, title)
    parts, maximum = _time_frame(name, title, series, max(totals), fmt)
    width = max(1.0, (WIDTH - LEFT - RIGHT) / len(times) * 0.8)
    for i, t in enumerate(times):
        x, base = _center(i, len(times)) - width / 2, float(HEIGHT - BOTTOM)
        for item in series:
            value = item.values[i]
            if value <= 0:
                continue
            height = _scale(value, maximum)
            base -= height
            geometry = f'x="{x:.2f}" y="{base:.2f}" width="{width:.2f}" height="{height:.2f}"'
            parts.append(_time_mark("rect", geometry, item, t, value, bucket, fmt))
    parts += [*_x_axis(times, bucket, lambda i: _center(i, len(times))), "</svg>"]
    return Markup("".join(parts))


def line(
    name: str, title: str, times: Sequence[datetime], series: Series, *, bucket: str, fmt: Format = plain
) -> Markup:
    """A line with the area under it shaded, and a point per bucket."""
    if not times or max(float(value) for value in series.values) <= 0:
        return _empty(name, title)
    parts, maximum = _time_frame(name, title, [series], max(float(value) for value in series.values), fmt)
    floor = HEIGHT - BOTTOM
    points = [
        (_center(i, len(times)), floor - _scale(value, maximum)) for i, value in enumerate(series.values)
    ]
    path = " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
    parts.append(
        f'<polygon class="area {series.css}" '
        f'points="{points[0][0]:.2f},{floor} {path} {points[-1][0]:.2f},{floor}"/>'
    )
    parts.append(f'<polyline class="line {series.css}" points="{path}"/>')
    for (x, y), t, value in zip(points, times, series.values, strict=True):
        parts.append(_time_mark("circle", f'cx="{x:.2f}" cy="{y:.2f}" r="3"', series, t, value, bucket, fmt))
    parts += [*_x_axis(times, bucket, lambda i: _center(i, len(times))), "</svg>"]
    return Markup("".join(parts))


def bars(
    name: str, title: str, items: Sequence[tuple[str, Number]], *, css: str, fmt: Format = plain
) -> Markup:
    """Horizontal bars, one per item in the order given (longest first reads best)."""
    if not items or max(float(value) for _, value in items) <= 0:
        return _empty(name, title)
    height = 2 * BAR_GAP + len(items) * (BAR_HEIGHT + BAR_GAP)
    maximum = max(float(value) for _, value in items)
    x0 = LABEL_WIDTH + BAR_GAP
    room = WIDTH - x0 - RIGHT - 80  # kept right of the longest bar for its value
    parts = _open(name, title, height)
    for i, (label, value) in enumerate(items):
        y = BAR_GAP + i * (BAR_HEIGHT + BAR_GAP)
        length = max(1.0, room * float(value) / maximum) if float(value) > 0 else 0.0
        shown = label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"
        marks = _attrs(data_label=label, data_value=value)
        baseline = y + BAR_HEIGHT * 0.68
        parts.append(
            f'<text class="bar-label" x="{x0 - 8}" y="{baseline:.1f}" text-anchor="end">'
            f"{escape(shown)}</text>"
            f'<rect class="mark {css}" x="{x0}" y="{y:.1f}" width="{length:.2f}" height="{BAR_HEIGHT}" '
            f'rx="3" {marks}><title>{escape(f"{label}: {fmt(float(value))}")}</title></rect>'
            f'<text class="bar-value" x="{x0 + length + 6:.2f}" y="{baseline:.1f}">'
            f"{escape(fmt(float(value)))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
