"""``prism users create | list | remove``: dashboard sign-ins, each in one org."""

import argparse
import asyncio
import getpass
import sys
from typing import Final

from origin.cli.common import CliError, Commands, connect
from origin.dashboard.passwords import hash_password
from origin.settings import Settings
from origin.stores import users

MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 1024
MAX_EMAIL: Final = 254


def email(text: str) -> str:
    text = text.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or len(text) > MAX_EMAIL or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an email address")
    return text


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise CliError("the two passwords differ")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise CliError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


async def _create(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password(args.password_stdin)
    hashed = await asyncio.to_thread(hash_password, password)
    async with connect(settings) as pool:
        created = await users.create_user(pool, org=args.org, email=args.email, password_hash=hashed)
    if created is None:
        raise CliError(f"a user with the address {args.email!r} exists already")
    print(f"created user {args.email} in org {args.org!r}")
    return 0


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as pool:
        listing = await users.list_users(pool, org=args.org)
    for item in listing:
        print(f"{item.email}\t{item.org_name}\t{item.created_at:%Y-%m-%d}")
    return 0


async def _remove(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as pool:
        removed = await users.remove_user(pool, args.email)
    if not removed:
        raise CliError(f"no user has the address {args.email!r}")
    print(f"removed {args.email}; their dashboard sessions end at their next request")
    return 0


def register(commands: Commands) -> None:
    parsers = commands.add_parser("users", help="manage dashboard users").add_subparsers(
        dest="users_command", required=True
    )
    create = parsers.add_parser("create", help="create a user (the org too, if needed)")
    create.add_argument("--org", required=True)
    create.add_argument("--email", required=True, type=email)
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    create.set_defaults(run=_create)
    listing = parsers.add_parser("list", help="list users (of one org)")
    listing.add_argument("--org")
    listing.set_defaults(run=_list)
    remove = parsers.add_parser("remove", help="remove a user")
    remove.add_argument("--email", required=True, type=email)
    remove.set_defaults(run=_remove)
