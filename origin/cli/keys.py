"""``prism keys create | list | revoke``."""

import argparse
import sys

from origin.admin import fields
from origin.cli.common import Commands, argument, connect, operations
from origin.settings import Settings
from origin.stores import postgres


def _limits(args: argparse.Namespace) -> postgres.KeyLimits:
    return postgres.KeyLimits(
        budget_cents=args.budget_cents,
        rpm=args.rpm,
        tpm=args.tpm,
        models=args.models or (),
        expires_at=args.expires,
    )


async def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    async with operations(settings) as ops:
        created = await ops.create_key(args.org, args.project, _limits(args))
    record = created.record
    print(f"created key {record.prefix}… for project {record.project_name!r} (org {record.org_name!r})")
    print(f"limits: {created.limits.describe()}")
    print("it is shown only this once:", file=sys.stderr)
    print(created.key)
    return 0


async def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as pool:
        listing = await postgres.list_keys(pool)
    for item in listing:
        print(
            f"{item.prefix}\t{item.current_status}\t{item.org_name}/{item.project_name}"
            f"\t{item.created_at:%Y-%m-%d}\t{item.limits.describe()}"
        )
    return 0


async def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async with operations(settings) as ops:
        revoked = await ops.revoke_keys(args.prefix)
    print(f"revoked {revoked} key(s) with prefix {args.prefix}")
    return 0


def register(commands: Commands) -> None:
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--project", required=True)
    create.add_argument("--org", default="default")
    create.add_argument(
        "--budget-cents", type=argument(fields.positive), help="the key's own monthly budget, in cents"
    )
    create.add_argument("--rpm", type=argument(fields.positive), help="the key's own requests per minute")
    create.add_argument("--tpm", type=argument(fields.positive), help="the key's own tokens per minute")
    create.add_argument(
        "--models",
        type=argument(fields.model_globs),
        help="models the key may use: names or globs, comma-separated",
    )
    create.add_argument(
        "--expires",
        type=argument(fields.expiry),
        help="when the key stops working: 30d, 12h, or 2027-01-31[T12:00]",
    )
    create.set_defaults(run=_keys_create)
    keys.add_parser("list", help="list keys by prefix").set_defaults(run=_keys_list)
    revoke = keys.add_parser("revoke", help="revoke the keys with a display prefix")
    revoke.add_argument("prefix")
    revoke.set_defaults(run=_keys_revoke)
