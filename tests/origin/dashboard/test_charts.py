"""The SVG charts: well-formed, values in attributes, geometry inside the plot, an empty state."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from origin.dashboard import charts
from origin.dashboard.charts import HEIGHT, WIDTH, Series

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2025, 3, 1, tzinfo=UTC)
TIMES = [T0 + timedelta(hours=i) for i in range(4)]


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def _marks(root: ET.Element) -> list[ET.Element]:
    return [element for element in root.iter() if "data-value" in element.attrib]


def test_stacked_columns_carry_every_value_and_stack_bottom_up() -> None:
    series = [Series("edge hits", [1, 0, 2, 3], "s-edge"), Series("misses", [4, 0, 1, 0], "s-miss")]
    root = _parse(charts.stacked_columns("hit-rate", "Cache results", TIMES, series, bucket="hour"))
    assert root.get("data-chart") == "hit-rate" and root.get("data-empty") == "false"
    marks = _marks(root)
    found = {(m.get("data-series"), m.get("data-t")): int(m.get("data-value", "")) for m in marks}
    assert found == {
        ("edge hits", TIMES[0].isoformat()): 1,
        ("edge hits", TIMES[2].isoformat()): 2,
        ("edge hits", TIMES[3].isoformat()): 3,
        ("misses", TIMES[0].isoformat()): 4,
        ("misses", TIMES[2].isoformat()): 1,
    }
    first = [m for m in marks if m.get("data-t") == TIMES[0].isoformat()]
    edge, miss = first
    # The misses sit on top of the edge hits, heights in proportion to the values (4 : 1).
    assert float(miss.get("y", "")) + float(miss.get("height", "")) == pytest.approx(float(edge.get("y", "")))
    assert float(miss.get("height", "")) == pytest.approx(4 * float(edge.get("height", "")))
    for mark in marks:
        x, y = float(mark.get("x", "")), float(mark.get("y", ""))
        assert 0 <= x <= WIDTH and y >= 0 and y + float(mark.get("height", "")) <= HEIGHT
        assert mark.find(f"{SVG}title") is not None
    legend = [t.text for t in root.iter(f"{SVG}text")]
    assert "edge hits" in legend and "misses" in legend


def test_a_line_has_one_point_per_bucket_higher_for_more() -> None:
    values = [Decimal("0.5"), Decimal("2.25"), Decimal(0), Decimal("1")]
    root = _parse(charts.line("spend", "Spend", TIMES, Series("spend", values, "s-spend"), bucket="hour"))
    points = _marks(root)
    assert [Decimal(p.get("data-value", "")) for p in points] == values
    ys = [float(p.get("cy", "")) for p in points]
    assert ys[1] < ys[3] < ys[0] < ys[2]  # SVG's y grows downwards
    xs = [float(p.get("cx", "")) for p in points]
    assert xs == sorted(xs) and xs[0] >= 0 and xs[-1] <= WIDTH


def test_bars_are_as_long_as_their_values_and_keep_the_full_label() -> None:
    label = "a-very-long-feature-name-that-is-cut-on-screen"
    root = _parse(charts.bars("top-features", "Top features", [(label, 30), ("chat", 15)], css="s-cost"))
    bars = _marks(root)
    assert [(b.get("data-label"), b.get("data-value")) for b in bars] == [(label, "30"), ("chat", "15")]
    assert float(bars[0].get("width", "")) == pytest.approx(2 * float(bars[1].get("width", "")))
    assert any(t.text and t.text.endswith("…") for t in root.iter(f"{SVG}text"))


@pytest.mark.parametrize(
    "markup",
    [
        charts.bars("top-models", "Top models", [], css="s-cost"),
        charts.bars("top-models", "Top models", [("alpha", 0)], css="s-cost"),
        charts.line("spend", "Spend", TIMES, Series("spend", [0, 0, 0, 0], "s-spend"), bucket="hour"),
        charts.stacked_columns("hit-rate", "Cache", [], [], bucket="day"),
    ],
)
def test_no_data_renders_an_empty_state(markup: str) -> None:
    root = _parse(markup)
    assert root.get("data-empty") == "true" and root.get("data-chart")
    assert _marks(root) == []
    assert "No data in this window" in "".join(root.itertext())


def test_labels_are_escaped() -> None:
    root = _parse(charts.bars("x", "<b>", [('<script>"&', 1)], css="s"))
    assert _marks(root)[0].get("data-label") == '<script>"&'


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, (1.0, 0.25)), (7, (8, 2)), (10, (10, 2.5)), (0.031, (0.04, 0.01)), (95, (100, 25))],
)
def test_axis_maximum_is_a_round_number_above_the_data(value: float, expected: tuple[float, float]) -> None:
    assert charts.nice_ceiling(value) == pytest.approx(expected)
