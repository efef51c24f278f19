"""``prism project set | show`` and ``prism budget set | list | remove``: per-project controls."""

import argparse
import sys
from decimal import Decimal
from typing import Final

from origin.admin import fields
from origin.cli.common import (
    APPLIES,
    Commands,
    argument,
    connect,
    non_negative_int,
    on_off,
    operations,
    rpm,
    seconds_or_none,
    tag,
    threshold,
)
from origin.controls.policy import CACHE_SCOPES, EDGE_CACHE_MODES, ProjectControls
from origin.settings import Settings
from origin.stores import controls
from origin.stores.controls import ProjectRef

_SETTING_NAMES: Final = (
    "cache_ttl_seconds",
    "semantic_cache",
    "semantic_threshold",
    "rpm_limit",
    "memory_token_budget",
    "edge_cache",
    "prompt_cache_key",
    "cache_breakpoints",
    "prefix_flight",
    "pii_guard",
    "cache_max_ttl_seconds",
    "cache_scope",
    "session_memory",
)


async def _project_set(args: argparse.Namespace, settings: Settings) -> int:
    changes = {name: getattr(args, name) for name in _SETTING_NAMES if hasattr(args, name)}
    async with operations(settings) as ops:
        ref, loaded = await ops.update_project(args.org, args.name, changes)
    _print_controls(ref, loaded)
    if changes:
        print(f"updated {', '.join(changes)}; {APPLIES}", file=sys.stderr)
    return 0


async def _project_show(args: argparse.Namespace, settings: Settings) -> int:
    async with operations(settings) as ops:
        ref, loaded = await ops.project(args.org, args.name)
    _print_controls(ref, loaded)
    return 0


def _print_controls(ref: ProjectRef, loaded: ProjectControls) -> None:
    values = loaded.settings
    print(f"project {ref.label}")
    print(f"  cache_ttl_seconds    {values.cache_ttl_seconds}")
    print(f"  semantic_cache       {'on' if values.semantic_cache else 'off'}")
    print(f"  semantic_threshold   {values.semantic_threshold}")
    print(f"  rpm_limit            {'none' if values.rpm_limit is None else values.rpm_limit}")
    print(f"  memory_token_budget  {values.memory_token_budget}")
    print(f"  edge_cache           {values.edge_cache}")
    print(f"  prompt_cache_key     {'on' if values.prompt_cache_key else 'off'}")
    print(f"  cache_breakpoints    {'on' if values.cache_breakpoints else 'off'}")
    print(f"  prefix_flight        {'on' if values.prefix_flight else 'off'}")
    print(f"  pii_guard            {'on' if values.pii_guard else 'off'}")
    cap = values.cache_max_ttl_seconds
    print(f"  cache_max_ttl_seconds {'none' if cap is None else cap}")
    print(f"  cache_scope          {values.cache_scope}")
    print(f"  session_memory       {'on' if values.session_memory else 'off'}")
    for budget in loaded.budgets:
        print(f"  budget {budget.tag or '(project)'}  {_cents_text(budget.monthly_cents)} cents/month")
    for rule in loaded.policies.rules:
        print(f"  {rule}")


async def _budget_set(args: argparse.Namespace, settings: Settings) -> int:
    async with operations(settings) as ops:
        ref = await ops.set_budget(args.org, args.project, args.monthly_cents, args.tag)
    scope = ref.label if args.tag is None else f"{ref.label} tagged {args.tag[0]}={args.tag[1]}"
    print(f"budget for {scope}: {_cents_text(args.monthly_cents)} cents/month")
    return 0


async def _budget_list(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as pool:
        listing = await controls.list_budgets(pool)
    for item in listing:
        cents = _cents_text(item.budget.monthly_cents)
        print(f"{item.org_name}/{item.project_name}\t{item.budget.tag or '(project)'}\t{cents}")
    if not listing:
        print("no budgets", file=sys.stderr)
    return 0


async def _budget_remove(args: argparse.Namespace, settings: Settings) -> int:
    async with operations(settings) as ops:
        ref = await ops.remove_budget(args.org, args.project, args.tag)
    scope = ref.label if args.tag is None else f"{ref.label} tagged {args.tag[0]}={args.tag[1]}"
    print(f"removed the budget for {scope}")
    return 0


def _cents_text(cents: Decimal) -> str:
    return format(cents.normalize(), "f")


def register(commands: Commands) -> None:
    _add_project_parser(commands)
    _add_budget_parser(commands)


def _add_project_parser(commands: Commands) -> None:
    project = commands.add_parser("project", help="per-project settings")
    verbs = project.add_subparsers(dest="project_command", required=True)

    change = verbs.add_parser("set", help="change a project's settings (others keep their values)")
    change.add_argument("name")
    change.add_argument("--org", default="default")
    unset = argparse.SUPPRESS
    change.add_argument(
        "--cache-ttl", dest="cache_ttl_seconds", metavar="SECONDS", type=non_negative_int, default=unset
    )
    change.add_argument("--semantic-cache", metavar="on|off", type=on_off, default=unset)
    change.add_argument("--semantic-threshold", metavar="F", type=threshold, default=unset)
    change.add_argument("--rpm", dest="rpm_limit", metavar="N|none", type=rpm, default=unset)
    change.add_argument(
        "--memory-tokens", dest="memory_token_budget", metavar="N", type=non_negative_int, default=unset
    )
    change.add_argument("--edge-cache", choices=EDGE_CACHE_MODES, default=unset)
    change.add_argument("--prompt-cache-key", metavar="on|off", type=on_off, default=unset)
    change.add_argument("--cache-breakpoints", metavar="on|off", type=on_off, default=unset)
    change.add_argument("--prefix-flight", metavar="on|off", type=on_off, default=unset)
    change.add_argument("--pii-guard", metavar="on|off", type=on_off, default=unset)
    change.add_argument(
        "--cache-max-ttl",
        dest="cache_max_ttl_seconds",
        metavar="SECONDS|none",
        type=seconds_or_none,
        default=unset,
    )
    change.add_argument("--cache-scope", choices=CACHE_SCOPES, default=unset)
    change.add_argument("--session-memory", metavar="on|off", type=on_off, default=unset)
    change.set_defaults(run=_project_set)

    show = verbs.add_parser("show", help="a project's settings, budgets and the policies that apply")
    show.add_argument("name")
    show.add_argument("--org", default="default")
    show.set_defaults(run=_project_show)


def _add_budget_parser(commands: Commands) -> None:
    budget = commands.add_parser("budget", help="monthly budgets per project and per tag value")
    verbs = budget.add_subparsers(dest="budget_command", required=True)

    change = verbs.add_parser("set", help="set a project's (or a tag value's) monthly budget")
    change.add_argument("--project", required=True)
    change.add_argument("--org", default="default")
    change.add_argument("--tag", metavar="KEY=VALUE", type=tag)
    change.add_argument("--monthly-cents", metavar="N", type=argument(fields.monthly_cents), required=True)
    change.set_defaults(run=_budget_set)

    verbs.add_parser("list", help="every budget").set_defaults(run=_budget_list)

    remove = verbs.add_parser("remove", help="remove a project's (or a tag value's) budget")
    remove.add_argument("--project", required=True)
    remove.add_argument("--org", default="default")
    remove.add_argument("--tag", metavar="KEY=VALUE", type=tag)
    remove.set_defaults(run=_budget_remove)
