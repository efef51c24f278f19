"""``prism serve`` and ``prism migrate``."""

import argparse

from origin.cli.common import Commands
from origin.settings import Settings
from origin.stores import postgres, usage_partitions
from origin.stores.migrate import migrate


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from origin.server import serve

    await serve(settings, host=args.host or settings.host, port=args.port or settings.port)
    return 0


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    applied = await migrate(settings.database_url)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    pool = await postgres.create_pool(settings.database_url, max_size=1)
    try:
        made, dropped = await usage_partitions.keep(pool, settings.usage_retention_months)
    finally:
        await pool.close()
    if made:
        print("usage partitions made: " + ", ".join(made))
    if dropped:
        print("usage partitions dropped: " + ", ".join(dropped))
    return 0


def register(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="run the origin on hypercorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="create the database and apply migrations").set_defaults(run=_migrate)
