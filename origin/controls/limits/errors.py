"""Failures of the shared limits: over budget, and Redis out of reach (which fails closed)."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from redis.exceptions import RedisError


class LimitsUnavailable(Exception):
    """Redis, which every instance coordinates budgets and rate limits through, did not answer (or
    the usage log, which a budget's spend is rebuilt from, could not be read)."""

    def __init__(self, what: str, because: str = "its Redis store did not answer") -> None:
        super().__init__(
            f"Prism cannot check {what} right now because {because}; "
            "the request was refused rather than let through unchecked. Retry shortly."
        )
        self.what = what


class BudgetExceeded(Exception):
    """Admitting the request could push ``scope_label`` over its monthly budget."""

    def __init__(
        self, scope_label: str, limit_cents: float, spent_cents: float, requested_cents: float
    ) -> None:
        super().__init__(
            f"Monthly budget for {scope_label} is {limit_cents:.2f} cents; "
            f"{spent_cents:.2f} cents are spent or reserved, "
            f"and this request may cost up to {requested_cents:.2f} cents."
        )
        self.scope_label = scope_label
        self.limit_cents = limit_cents
        self.spent_cents = spent_cents
        self.requested_cents = requested_cents


@contextmanager
def unavailable_on_failure(what: str) -> Iterator[None]:
    """Turn any way of not reaching Redis into :class:`LimitsUnavailable`: a refused or dropped
    connection, or a script call past its own ``timeout=``."""
    try:
        yield
    except (RedisError, OSError, TimeoutError) as error:
        raise LimitsUnavailable(what) from error


@asynccontextmanager
async def redis_guard(what: str, timeout: float) -> AsyncIterator[None]:
    """The same for a plain command, which gets its deadline here (a script call carries its own).

    The deadline is ours, not only the client's: redis-py retries timeouts and dropped connections
    (ten times by default), which against a hung Redis would hold every request for many seconds.
    """
    with unavailable_on_failure(what):
        async with asyncio.timeout(timeout):
            yield
