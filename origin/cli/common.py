"""What every ``prism`` command shares: the error type, the database helpers, the argparse types."""

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Set
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeAlias

from origin.config import config_digest, load_config
from origin.controls.grants import publish_org_grants, publish_project_grants
from origin.settings import Settings
from origin.stores import controls, postgres
from origin.stores.controls import ProjectRef
from origin.stores.kv import KVPublisher
from shared.tags import MAX_LENGTH, parse_tags

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
APPLIES: Final = "it applies on every origin within 5 s"
_MAX_CENTS: Final = Decimal(10) ** 10  # numeric(20, 10)


class CliError(Exception):
    """A request the database cannot honour (unknown project, policy…); one line for a person."""


@contextlib.asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[postgres.Pool]:
    pool = await postgres.create_pool(settings.database_url, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def find_project(pool: postgres.Pool, org: str, project: str) -> ProjectRef:
    ref = await controls.find_project(pool, org=org, project=project)
    if ref is None:
        raise CliError(f"no project {project!r} in org {org!r}")
    return ref


async def find_org(pool: postgres.Pool, org: str) -> str:
    org_id = await controls.find_org(pool, org)
    if org_id is None:
        raise CliError(f"no org named {org!r}")
    return org_id


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0 or value >= 2**31:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range")
    return value


def glob(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("a pattern cannot be empty ('*' matches everything)")
    return text


def rpm(text: str) -> int | None:
    return None if text.lower() == "none" else positive_int(text)


def seconds_or_none(text: str) -> int | None:
    return None if text.lower() == "none" else non_negative_int(text)


def on_off(text: str) -> bool:
    if text.lower() not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"{text!r} is not 'on' or 'off'")
    return text.lower() == "on"


def threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not in (0, 1]")
    return value


def monthly_cents(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite() or not 0 <= value < _MAX_CENTS:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and {_MAX_CENTS}")
    return value


def tag(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if parse_tags(text) != {key: value} or len(key) > MAX_LENGTH or len(value) > MAX_LENGTH:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one tag key=value (each at most {MAX_LENGTH} chars)"
        )
    return key, value


async def publish_grants(
    pool: postgres.Pool, settings: Settings, project_ids: Set[str], *, org_ids: Set[str] = frozenset()
) -> None:
    """Tell the edge about the change (when Workers KV is configured); a failure is a warning.

    The grants' generation digests the gateway config too: the one at ``PRISM_CONFIG_PATH``, which
    must be the origins' (it is, with the deploy/ env file). Were it not, the edge would only forward
    more, until an origin's next start republishes.
    """
    kv = KVPublisher.from_settings(settings)
    try:
        if not kv.enabled:
            return
        digest = config_digest(load_config(settings.config_path, settings.provider_api_keys))
        for org_id in sorted(org_ids):
            await publish_org_grants(pool, kv, org_id, config_digest=digest)
        for project_id in sorted(project_ids):
            await publish_project_grants(pool, kv, project_id, config_digest=digest)
    except Exception as error:  # the key change itself is done; say what the edge has not seen
        print(
            f"warning: could not publish to Workers KV ({type(error).__name__}); rerun to retry",
            file=sys.stderr,
        )
    finally:
        await kv.stop()
