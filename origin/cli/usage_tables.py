"""The usage reports as rows (for CSV) and as aligned tables a person reads in a terminal."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

from origin.usage import reports
from origin.usage.export import csv_cell
from origin.usage.reports import REQUEST_FIELDS

Rows = list[list[Any]]
# A terminal is narrow: the table of rows keeps the columns a person scans; CSV and JSON have all.
TABLE_FIELDS: Final = (
    "created_at",
    "request_id",
    "model_used",
    "cache_status",
    "cost_total_cents",
    "cache_saved_cents",
    "latency_ms",
    "session_id",
    "request_tags",
    "edge_region",
    "success",
)
TAG_FIELDS: Final = ("value", "requests", "cost_cents", "saved_cents", "hits", "hit_rate")
POINT_FIELDS: Final = (
    "t",
    "requests",
    "cost_cents",
    "saved_cents",
    "hits_edge",
    "hits_origin",
    "misses",
    "errors",
)


def report_rows(report: Any) -> tuple[Sequence[str], Rows]:
    if isinstance(report, reports.Summary):
        body = report.to_json()
        statuses = body.pop("by_cache_status")
        saved = body.pop("saved_cents_by_cache_status")
        hit_rate = body.pop("hit_rate")
        flat = {
            **body,
            **{f"by_cache_status.{k}": v for k, v in statuses.items()},
            **{f"saved_cents_by_cache_status.{k}": v for k, v in saved.items()},
            "hit_rate": hit_rate,
        }
        return list(flat), [list(flat.values())]
    if isinstance(report, reports.GroupReport):
        return TAG_FIELDS, [[group.to_json()[name] for name in TAG_FIELDS] for group in report.groups]
    if isinstance(report, reports.Timeseries):
        return POINT_FIELDS, [[point.to_json()[name] for name in POINT_FIELDS] for point in report.points]
    rows = report.turns if isinstance(report, reports.SessionReport) else report.data
    return REQUEST_FIELDS, [[row.values[name] for name in REQUEST_FIELDS] for row in rows]


def print_table(report: Any, header: Sequence[str], rows: Rows) -> None:
    if isinstance(report, reports.Summary):
        width = max(len(name) for name in header)
        for name, value in zip(header, rows[0], strict=True):
            print(f"{name:<{width}}  {_shown(name, value)}")
        return
    if isinstance(report, reports.SessionReport):
        cost, saved = _shown("cents", report.cost_cents), _shown("cents", report.saved_cents)
        print(
            f"session {report.session_id}: {len(report.turns)} turns, cost {cost} cents, saved {saved} cents"
        )
    if header is REQUEST_FIELDS:
        positions = [REQUEST_FIELDS.index(name) for name in TABLE_FIELDS]
        header, rows = TABLE_FIELDS, [[row[i] for i in positions] for row in rows]
    _aligned(header, [[_shown(name, value) for name, value in zip(header, row, strict=True)] for row in rows])
    if not rows:
        print("(no rows)")


def _shown(name: str, value: Any) -> str:
    if name == "value" and value is None:
        return "(none)"
    if name == "hit_rate":
        return "-" if value is None else f"{value:.1%}"
    if name == "created_at" or name == "t":
        return csv_cell(value)[:19].replace("T", " ")
    if value is None:
        return "-"
    if isinstance(value, float) and "cents" in name:
        return csv_cell(Decimal(repr(value)))
    return csv_cell(value).lstrip("'")


def _aligned(header: Sequence[str], rows: list[list[str]]) -> None:
    widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(header)]
    print("  ".join(name.ljust(width) for name, width in zip(header, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
