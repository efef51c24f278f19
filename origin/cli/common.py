"""What every ``prism`` command shares: the error type, the database helpers, the argparse types."""

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Final, TypeAlias, TypeVar

from origin.admin.operations import OperationError, Operations
from origin.config import config_digest, load_config
from origin.settings import Settings
from origin.stores import postgres
from origin.stores.kv import KVPublisher
from origin.stores.redis_client import connect as connect_redis
from shared.tags import MAX_LENGTH, parse_tags

T = TypeVar("T")
Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
APPLIES: Final = "it applies on every origin within 5 s"


class CliError(OperationError):
    """A request the command cannot honour; one line for a person."""


@contextlib.asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[postgres.Pool]:
    pool = await postgres.create_pool(settings.database_url, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


def argument(read: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from one of ``origin.admin.fields``' readers, its message kept."""

    def typed(text: str) -> T:
        try:
            return read(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    typed.__name__ = read.__name__
    return typed


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


def tag(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if parse_tags(text) != {key: value} or len(key) > MAX_LENGTH or len(value) > MAX_LENGTH:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one tag key=value (each at most {MAX_LENGTH} chars)"
        )
    return key, value


@contextlib.asynccontextmanager
async def operations(settings: Settings) -> AsyncIterator[Operations]:
    """The changes an operator makes, each with what it owes the edge and the key caches; a step
    that fails after the change itself is printed as a warning."""
    kv = KVPublisher.from_settings(settings)
    redis_client = connect_redis(settings.redis_url, socket_timeout=2, connect_timeout=2)
    try:
        async with connect(settings) as pool:
            yield Operations(
                pool,
                redis_client,
                kv,
                pepper=settings.key_pepper,
                # The config at PRISM_CONFIG_PATH, which must be the origins' (it is, with deploy/'s
                # env file). Were it not, the edge would only forward more until an origin restarts.
                config_digest=lambda: config_digest(
                    load_config(settings.config_path, settings.provider_api_keys)
                ),
                warn=lambda text: print(f"warning: {text}", file=sys.stderr),
            )
    finally:
        await redis_client.aclose()
        await kv.stop()
