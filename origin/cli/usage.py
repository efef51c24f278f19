"""``prism usage summary | by-tag | requests | session | timeseries``: the usage API's reports.

The options become the API's query parameters and go through the same parser and the same
queries; ``--format json`` prints exactly the API's body, ``csv`` what ``requests.csv`` streams.
"""

import argparse
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

from origin.admin.operations import find_org, find_project
from origin.cli.common import CliError, Commands, connect
from origin.cli.usage_seed import register as register_seed
from origin.cli.usage_tables import print_table, report_rows
from origin.settings import Settings
from origin.stores import controls
from origin.stores.postgres import Pool
from origin.usage import reports
from origin.usage.export import csv_line
from origin.usage.filters import (
    FilterError,
    Params,
    parse_bucket,
    parse_page,
    parse_request_filters,
    parse_tag_key,
    parse_window,
)
from origin.usage.reports import REQUEST_FIELDS, Scope

FORMATS: Final = ("table", "csv", "json")
Report = Callable[[Pool, Scope, Params], Awaitable[Any]]


def option_params(args: argparse.Namespace, names: Sequence[str]) -> Params:
    pairs: list[tuple[str, str]] = []
    for name in names:
        value = getattr(args, name, None)
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((name, str(item)))
    return pairs


@asynccontextmanager
async def scoped(args: argparse.Namespace, settings: Settings) -> AsyncIterator[tuple[Pool, Scope]]:
    async with connect(settings) as pool:
        if args.project is not None:
            scope = frozenset({(await find_project(pool, args.org, args.project)).project_id})
        else:
            scope = frozenset(await controls.projects_of_org(pool, await find_org(pool, args.org)))
        try:
            yield pool, scope
        except FilterError as error:
            option = "ID" if error.param == "session_id" else "--" + error.param.replace("_", "-")
            raise CliError(f"{option}: {error}") from None


def print_json(body: dict[str, Any]) -> None:
    # The separators of Starlette's JSONResponse: the same bytes as the API's body.
    print(json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")))


async def _show(args: argparse.Namespace, settings: Settings, run: Report) -> int:
    params = option_params(args, ("since", "until", "key", "bucket"))
    async with scoped(args, settings) as (pool, scope):
        report = await run(pool, scope, params)
    if report is None:
        raise CliError(f"no session {args.session_id!r} in this window")
    if args.format == "json":
        print_json(report.to_json())
        return 0
    header, rows = report_rows(report)
    if args.format == "csv":
        sys.stdout.write(csv_line(header) + "".join(csv_line(row) for row in rows))
    else:
        print_table(report, header, rows)
    return 0


async def _summary(pool: Pool, scope: Scope, params: Params) -> reports.Summary:
    return await reports.summary(pool, scope, parse_window(params))


async def _by_tag(pool: Pool, scope: Scope, params: Params) -> reports.GroupReport:
    return await reports.by_tag(pool, scope, parse_window(params), parse_tag_key(params))


async def _timeseries(pool: Pool, scope: Scope, params: Params) -> reports.Timeseries:
    window = parse_window(params)
    return await reports.timeseries(pool, scope, window, parse_bucket(params, window))


async def _usage_summary(args: argparse.Namespace, settings: Settings) -> int:
    return await _show(args, settings, _summary)


async def _usage_by_tag(args: argparse.Namespace, settings: Settings) -> int:
    return await _show(args, settings, _by_tag)


async def _usage_timeseries(args: argparse.Namespace, settings: Settings) -> int:
    return await _show(args, settings, _timeseries)


async def _usage_session(args: argparse.Namespace, settings: Settings) -> int:
    async def run(pool: Pool, scope: Scope, params: Params) -> reports.SessionReport | None:
        try:
            session = parse_request_filters([("session", args.session_id)]).session
        except FilterError as error:
            raise FilterError("session_id", str(error)) from None
        assert session is not None
        return await reports.session(pool, scope, parse_window(params), session)

    return await _show(args, settings, run)


_REQUEST_OPTIONS: Final = ("since", "until", "session", "tag", "cache_status", "model", "success")


async def _usage_requests(args: argparse.Namespace, settings: Settings) -> int:
    if args.format == "csv" and args.limit is not None:
        raise CliError("--limit: --format csv prints every matching row (like requests.csv); drop --limit")
    params = option_params(args, (*_REQUEST_OPTIONS, "limit", "cursor"))
    async with scoped(args, settings) as (pool, scope):
        window, filters, page = parse_window(params), parse_request_filters(params), parse_page(params)
        if args.format == "csv":
            sys.stdout.write(csv_line(REQUEST_FIELDS))
            async for row in reports.iter_requests(pool, scope, window, filters, after=page.after):
                sys.stdout.write(csv_line([row.values[name] for name in REQUEST_FIELDS]))
            return 0
        result = await reports.requests_page(pool, scope, window, filters, page)
    if args.format == "json":
        print_json(result.to_json())
        return 0
    header, rows = report_rows(result)
    print_table(result, header, rows)
    if result.next_cursor is not None:
        print(f"more: add --cursor {result.next_cursor}", file=sys.stderr)
    return 0


def scope_options(parser: argparse.ArgumentParser, formats: Sequence[str] = FORMATS) -> None:
    parser.add_argument("--org", default="default")
    parser.add_argument("--project", help="one project of the org (default: all of them)")
    parser.add_argument("--since", help="ISO-8601 or relative: 30m, 24h, 7d (default 30d)")
    parser.add_argument("--until", help="ISO-8601 or relative (default: no end)")
    parser.add_argument("--format", choices=formats, default="table")


def register(commands: Commands) -> None:
    usage = commands.add_parser("usage", help="usage reports: spend, savings, cache, sessions")
    verbs = usage.add_subparsers(dest="usage_command", required=True)

    summary = verbs.add_parser("summary", help="requests, errors, cost, savings, tokens, cache")
    scope_options(summary)
    summary.set_defaults(run=_usage_summary)

    by_tag = verbs.add_parser("by-tag", help="the summary per value of one tag key")
    by_tag.add_argument("--key", required=True, help="the tag key, for example feature")
    scope_options(by_tag)
    by_tag.set_defaults(run=_usage_by_tag)

    listing = verbs.add_parser("requests", help="usage rows, newest first")
    scope_options(listing)
    listing.add_argument("--session")
    listing.add_argument("--tag", action="append", metavar="KEY:VALUE", help="repeatable: all must match")
    listing.add_argument("--cache-status", dest="cache_status")
    listing.add_argument("--model")
    listing.add_argument("--success", choices=("true", "false"))
    listing.add_argument("--limit", help="rows per page (1-500, default 50)")
    listing.add_argument("--cursor", help="the next page, as printed after the previous one")
    listing.set_defaults(run=_usage_requests)

    session = verbs.add_parser("session", help="one session's turns, oldest first")
    session.add_argument("session_id", metavar="ID")
    scope_options(session)
    session.set_defaults(run=_usage_session)

    series = verbs.add_parser("timeseries", help="requests, spend and cache per minute, hour or day")
    series.add_argument("--bucket", choices=("minute", "hour", "day"))
    scope_options(series)
    series.set_defaults(run=_usage_timeseries)

    register_seed(verbs)
