"""``prism``: serve, migrate, manage keys, policies, project settings, budgets and users, read usage."""

import argparse
import asyncio
import sys
from collections.abc import Sequence

import asyncpg

from origin.admin.operations import OperationError
from origin.cli import cache, keys, policy, project, service, usage, users
from origin.cli.common import CliError, Command
from origin.settings import Settings, SettingsError

__all__ = ["CliError", "Command", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prism", description="Prism LLM gateway (origin)")
    commands = parser.add_subparsers(dest="command", required=True)
    service.register(commands)
    keys.register(commands)
    policy.register(commands)
    project.register(commands)
    usage.register(commands)
    cache.register(commands)
    users.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"prism: {error}", file=sys.stderr)
        return 2
    command: Command = args.run
    try:
        return asyncio.run(command(args, settings))
    except OperationError as error:
        print(f"prism: {error}", file=sys.stderr)
        return 1
    except (OSError, ConnectionError) as error:
        print(f"prism: cannot reach a service: {error}", file=sys.stderr)
        return 1
    except asyncpg.PostgresError as error:
        print(f"prism: Postgres said: {error} (did you run `prism migrate`?)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
