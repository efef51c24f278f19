"""``prism policy add | list | remove``: deny/allow models and providers, limit requests."""

import argparse
import sys
from typing import Final

from origin.cli.common import (
    APPLIES,
    Commands,
    glob,
    operations,
    positive_int,
)
from origin.controls.policy import Effect, Target
from origin.settings import Settings

_PATTERN_OPTIONS: Final[tuple[tuple[str, Effect, Target], ...]] = (
    ("deny_model", "deny", "model"),
    ("allow_model", "allow", "model"),
    ("deny_provider", "deny", "provider"),
    ("allow_provider", "allow", "provider"),
)


def _rule_parts(args: argparse.Namespace) -> tuple[Effect, Target, str | None, int | None]:
    if args.max_tokens is not None:
        return "limit", "max_tokens", None, int(args.max_tokens)
    if args.no_streaming:
        return "deny", "streaming", None, None
    for dest, effect, target in _PATTERN_OPTIONS:
        pattern: str | None = getattr(args, dest)
        if pattern is not None:
            return effect, target, pattern, None
    raise AssertionError("argparse requires one rule option")


async def _policy_add(args: argparse.Namespace, settings: Settings) -> int:
    if args.org is None and args.project is None:
        print("prism: policy add needs --org NAME or --project NAME", file=sys.stderr)
        return 2
    effect, target, pattern, max_tokens = _rule_parts(args)
    org = args.org if args.project is None else args.org or "default"
    async with operations(settings) as ops:
        rule = await ops.add_policy(org, args.project, effect, target, pattern, max_tokens)
    print(f"added {rule}; {APPLIES}", file=sys.stderr)
    print(rule.id)
    return 0


async def _policy_list(args: argparse.Namespace, settings: Settings) -> int:
    async with operations(settings) as ops:
        rules = await ops.policies(args.org, args.project)
    for rule in rules:
        print(f"{rule.id}\t{rule.scope} {rule.scope_name}\t{rule.action}")
    if not rules:
        print("no policies", file=sys.stderr)
    return 0


async def _policy_remove(args: argparse.Namespace, settings: Settings) -> int:
    async with operations(settings) as ops:
        await ops.remove_policy(args.id)
    print(f"removed policy #{args.id}; {APPLIES}")
    return 0


def register(commands: Commands) -> None:
    policy = commands.add_parser("policy", help="deny/allow models and providers, limit requests")
    verbs = policy.add_subparsers(dest="policy_command", required=True)

    add = verbs.add_parser("add", help="add one rule to an org or a project; prints its id")
    add.add_argument("--org", help="the org (alone: an org-wide rule; default for --project: default)")
    add.add_argument("--project", help="the project the rule applies to")
    rule = add.add_mutually_exclusive_group(required=True)
    rule.add_argument("--deny-model", metavar="GLOB", type=glob)
    rule.add_argument("--allow-model", metavar="GLOB", type=glob)
    rule.add_argument("--deny-provider", metavar="GLOB", type=glob)
    rule.add_argument("--allow-provider", metavar="GLOB", type=glob)
    rule.add_argument("--max-tokens", metavar="N", type=positive_int)
    rule.add_argument("--no-streaming", action="store_true")
    add.set_defaults(run=_policy_add)

    listing = verbs.add_parser("list", help="list rules (of an org, or that apply to a project)")
    listing.add_argument("--org")
    listing.add_argument("--project")
    listing.set_defaults(run=_policy_list)

    remove = verbs.add_parser("remove", help="remove a rule by id")
    remove.add_argument("id", type=positive_int)
    remove.set_defaults(run=_policy_remove)
