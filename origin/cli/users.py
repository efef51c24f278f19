"""``prism users create | list | remove``: dashboard sign-ins, each in one org."""

import argparse
import getpass
import sys

from origin.admin import fields
from origin.cli.common import CliError, Commands, argument, connect, operations
from origin.settings import Settings
from origin.stores import users


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise CliError("the two passwords differ")
    try:
        return fields.password(password)
    except ValueError as error:
        raise CliError(str(error)) from None


async def _create(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password(args.password_stdin)
    async with operations(settings) as ops:
        await ops.create_user(args.org, args.email, password)
    print(f"created user {args.email} in org {args.org!r}")
    return 0


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as pool:
        listing = await users.list_users(pool, org=args.org)
    for item in listing:
        print(f"{item.email}\t{item.org_name}\t{item.created_at:%Y-%m-%d}")
    return 0


async def _remove(args: argparse.Namespace, settings: Settings) -> int:
    async with operations(settings) as ops:
        await ops.remove_user(args.email)
    print(f"removed {args.email}; their dashboard sessions end at their next request")
    return 0


def register(commands: Commands) -> None:
    parsers = commands.add_parser("users", help="manage dashboard users").add_subparsers(
        dest="users_command", required=True
    )
    create = parsers.add_parser("create", help="create a user (the org too, if needed)")
    create.add_argument("--org", required=True)
    create.add_argument("--email", required=True, type=argument(fields.email))
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    create.set_defaults(run=_create)
    listing = parsers.add_parser("list", help="list users (of one org)")
    listing.add_argument("--org")
    listing.set_defaults(run=_list)
    remove = parsers.add_parser("remove", help="remove a user")
    remove.add_argument("--email", required=True, type=argument(fields.email))
    remove.set_defaults(run=_remove)
