"""``prism keys create | list | revoke``."""

import argparse
import sys

import redis.asyncio as redis
from redis.exceptions import RedisError

from origin.cli.common import Commands, publish_grants
from origin.controls.auth import forget_keys
from origin.settings import Settings
from origin.stores import postgres


async def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    pool = await postgres.create_pool(settings.database_url, max_size=2)
    try:
        key, record = await postgres.create_key(
            pool, project=args.project, org=args.org, pepper=settings.key_pepper
        )
        await publish_grants(pool, settings, {record.project_id})
    finally:
        await pool.close()
    print(f"created key {record.prefix}… for project {record.project_name!r} (org {record.org_name!r})")
    print("it is shown only this once:", file=sys.stderr)
    print(key)
    return 0


async def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    pool = await postgres.create_pool(settings.database_url, max_size=2)
    try:
        listing = await postgres.list_keys(pool)
    finally:
        await pool.close()
    for item in listing:
        print(
            f"{item.prefix}\t{item.status}\t{item.org_name}/{item.project_name}\t{item.created_at:%Y-%m-%d}"
        )
    return 0


async def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    pool = await postgres.create_pool(settings.database_url, max_size=2)
    try:
        revoked = await postgres.revoke_keys(pool, args.prefix)
        await publish_grants(pool, settings, {item.project_id for item in revoked})
    finally:
        await pool.close()
    redis_client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2)
    try:
        await forget_keys(redis_client, [item.key_hash for item in revoked])
    except RedisError:
        print("warning: Redis unreachable; origins notice the revocation within 5 s anyway", file=sys.stderr)
    finally:
        await redis_client.aclose()
    if not revoked:
        print(f"no active key has the prefix {args.prefix!r}", file=sys.stderr)
        return 1
    print(f"revoked {len(revoked)} key(s) with prefix {args.prefix}")
    return 0


def register(commands: Commands) -> None:
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--project", required=True)
    create.add_argument("--org", default="default")
    create.set_defaults(run=_keys_create)
    keys.add_parser("list", help="list keys by prefix").set_defaults(run=_keys_list)
    revoke = keys.add_parser("revoke", help="revoke the keys with a display prefix")
    revoke.add_argument("prefix")
    revoke.set_defaults(run=_keys_revoke)
