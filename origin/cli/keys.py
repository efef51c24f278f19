"""``prism keys create | list | revoke``."""

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta

import redis.asyncio as redis
from redis.exceptions import RedisError

from origin.cli.common import Commands, publish_grants
from origin.controls.auth import forget_keys
from origin.settings import Settings
from origin.stores import postgres

_SPAN = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def expiry(text: str) -> datetime:
    """``--expires``: a span from now (``30d``, ``12h``, ``90m``) or an ISO date or time (UTC if
    it names no zone)."""
    if span := _SPAN.fullmatch(text.strip()):
        return datetime.now(UTC) + timedelta(**{_UNITS[span[2]]: int(span[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a span (30d, 12h, 90m) nor an ISO date or time (2027-01-31)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def model_globs(text: str) -> tuple[str, ...]:
    globs = tuple(part.strip() for part in text.split(",") if part.strip())
    if not globs:
        raise argparse.ArgumentTypeError("give at least one model name or glob, e.g. 'gpt-4o*,claude-*'")
    return globs


def _limits(args: argparse.Namespace) -> postgres.KeyLimits:
    return postgres.KeyLimits(
        budget_cents=args.budget_cents,
        rpm=args.rpm,
        tpm=args.tpm,
        models=args.models or (),
        expires_at=args.expires,
    )


async def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    limits = _limits(args)
    if limits.expires_at is not None and limits.expires_at <= datetime.now(UTC):
        print(f"error: --expires {args.expires:%Y-%m-%d %H:%M}Z is already past", file=sys.stderr)
        return 2
    pool = await postgres.create_pool(settings.database_url, max_size=2)
    try:
        key, record = await postgres.create_key(
            pool, project=args.project, org=args.org, pepper=settings.key_pepper, limits=limits
        )
        await publish_grants(pool, settings, {record.project_id})
    finally:
        await pool.close()
    print(f"created key {record.prefix}… for project {record.project_name!r} (org {record.org_name!r})")
    print(f"limits: {limits.describe()}")
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
        status = item.status
        if status == "active" and item.limits.expires_at and item.limits.expires_at <= datetime.now(UTC):
            status = "expired"
        print(
            f"{item.prefix}\t{status}\t{item.org_name}/{item.project_name}\t{item.created_at:%Y-%m-%d}"
            f"\t{item.limits.describe()}"
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
    create.add_argument("--budget-cents", type=positive, help="the key's own monthly budget, in cents")
    create.add_argument("--rpm", type=positive, help="the key's own requests per minute")
    create.add_argument("--tpm", type=positive, help="the key's own tokens per minute")
    create.add_argument(
        "--models", type=model_globs, help="models the key may use: names or globs, comma-separated"
    )
    create.add_argument(
        "--expires", type=expiry, help="when the key stops working: 30d, 12h, or 2027-01-31[T12:00]"
    )
    create.set_defaults(run=_keys_create)
    keys.add_parser("list", help="list keys by prefix").set_defaults(run=_keys_list)
    revoke = keys.add_parser("revoke", help="revoke the keys with a display prefix")
    revoke.add_argument("prefix")
    revoke.set_defaults(run=_keys_revoke)
