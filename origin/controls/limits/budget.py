"""Monthly budgets in cents, reserved atomically in Redis before the upstream call and settled after.

Every instance coordinates through Redis only. A reservation adds the request's worst-case cost to
``reserved`` for all its scopes in one Lua script, and only if ``spent + reserved + worst <= limit``
holds for each of them; settling swaps the reservation for the actual cost. While actual costs stay
within their worst case, spend therefore never passes a limit, however many instances race.

Keys; amounts are integer micro-cents (millionths of a cent) so repeated increments never drift:

- ``prism:budget:{project}:YYYY-MM:{scope.key}`` — hash ``spent``, ``reserved``
- ``prism:budget:{project}:open:YYYY-MM:{scope.key}`` — sorted set of open reservations
  (member ``{worst_micro}:{id}``, score = deadline in epoch seconds)
- ``prism:budget:{project}:settled:{id}`` — marker that makes a second settle a no-op (kept two days)

``{project}`` is a Redis Cluster hash tag: a request's budgets (its project's, its tags', its key's)
are all its project's, so one script's keys share a hash slot.

Both per-month keys expire 35 days after the month ends. A reservation whose instance died before
settling is released by the next reserve on that scope once its deadline has passed.

Redis is fast, Postgres is the truth. A budget hash carries ``seeded`` once the month's spend in
the usage log was added to it; a reserve that finds a hash without it (Redis restarted empty, a
node replaced, or the scope's first request of the month) is answered with the scopes to seed, the
instance reads their spend from ``usage_logs`` (``history``) and adds it once (``HSETNX``: however
many instances race, one seed counts), and the reserve runs again. A settle that reached the empty
hash first is counted on top: after a loss the budget errs on the side of spent, never of unspent.
"""

import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Final

from origin.controls.limits.errors import (
    BudgetExceeded,
    LimitsUnavailable,
    redis_guard,
    unavailable_on_failure,
)
from origin.stores.inflight import Inflight
from origin.stores.redis_client import RedisClient
from origin.stores.redis_scripts import ScriptRunner, as_int

MICRO: Final = 1_000_000
RESERVATION_SECONDS: Final = 600.0
RETENTION: Final = timedelta(days=35)
SETTLED_MARKER_SECONDS: Final = 2 * 86_400
_WHAT: Final = "budgets"

# KEYS: (hash, open set) per scope. ARGV: now, deadline, worst, member, ttl, then one limit per scope.
# Running it again for the same member (the client retrying after a lost reply) changes nothing.
_RESERVE: Final = """
local n = #KEYS / 2
local now, deadline, worst = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[2], ARGV[4]) then
  return {0, 0, 0}
end
local unseeded = {-1, 0, 0}
for i = 1, n do
  if redis.call('HEXISTS', KEYS[2 * i - 1], 'seeded') == 0 then
    table.insert(unseeded, i)
  end
end
if #unseeded > 3 then
  return unseeded
end
for i = 1, n do
  local budget, open = KEYS[2 * i - 1], KEYS[2 * i]
  local expired = redis.call('ZRANGEBYSCORE', open, '-inf', now, 'LIMIT', 0, 1000)
  for _, member in ipairs(expired) do
    redis.call('HINCRBY', budget, 'reserved', '-' .. string.match(member, '^(%d+):'))
    redis.call('ZREM', open, member)
  end
end
for i = 1, n do
  local amounts = redis.call('HMGET', KEYS[2 * i - 1], 'spent', 'reserved')
  local spent, reserved = tonumber(amounts[1]) or 0, tonumber(amounts[2]) or 0
  if spent + reserved + worst > tonumber(ARGV[5 + i]) then
    return {i, spent, reserved}
  end
end
for i = 1, n do
  local budget, open = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('HINCRBY', budget, 'reserved', ARGV[3])
  redis.call('ZADD', open, deadline, ARGV[4])
  redis.call('EXPIRE', budget, ARGV[5])
  redis.call('EXPIRE', open, ARGV[5])
end
return {0, 0, 0}
"""

# KEYS: one hash per scope. ARGV: ttl, then the spend to add to each (once: the first seed wins).
_SEED: Final = """
for i = 1, #KEYS do
  if redis.call('HSETNX', KEYS[i], 'seeded', '1') == 1 then
    redis.call('HINCRBY', KEYS[i], 'spent', ARGV[1 + i])
    redis.call('EXPIRE', KEYS[i], ARGV[1])
  end
end
return 1
"""

# KEYS: settled marker, then (hash, open set) per scope. ARGV: member, -worst, actual, ttl, marker ttl.
_SETTLE: Final = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[5]) then
  return 0
end
for i = 1, (#KEYS - 1) / 2 do
  local budget, open = KEYS[2 * i], KEYS[2 * i + 1]
  if redis.call('ZREM', open, ARGV[1]) == 1 then
    redis.call('HINCRBY', budget, 'reserved', ARGV[2])
  end
  redis.call('HINCRBY', budget, 'spent', ARGV[3])
  redis.call('EXPIRE', budget, ARGV[4])
end
return 1
"""


@dataclass(frozen=True)
class SpendFilter:
    """The usage rows a budget counts: its project's (of one tag value), or one key's."""

    project_id: str | None = None
    key_id: str | None = None
    tag: tuple[str, str] | None = None


@dataclass(frozen=True)
class BudgetScope:
    """One budget a request counts against, e.g. ``project:42`` or ``project:42:tag:feature=onboarding``."""

    key: str
    limit_cents: float
    label: str
    rows: SpendFilter = SpendFilter()

    @property
    def slot(self) -> str:
        """The hash tag of this budget's keys: its project's id (its own key when it names none)."""
        return self.rows.project_id or self.key


# The cents the usage log holds for a scope's rows in a month (UTC ``YYYY-MM``).
History = Callable[[SpendFilter, str], Awaitable[float]]
MAX_SEED_ROUNDS: Final = 3
HISTORY_SECONDS: Final = 2.0


@dataclass(frozen=True)
class Reservation:
    """A worst-case amount held against ``scopes`` in ``period`` (UTC ``YYYY-MM``) until settled."""

    id: str
    scopes: tuple[BudgetScope, ...]
    worst_micro: int
    period: str

    @property
    def worst_cents(self) -> float:
        return self.worst_micro / MICRO

    @property
    def member(self) -> str:
        return f"{self.worst_micro}:{self.id}"

    @property
    def slot(self) -> str:
        return self.scopes[0].slot if self.scopes else ""


def period_of(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m")


def budget_key(period: str, scope: BudgetScope) -> str:
    return f"prism:budget:{{{scope.slot}}}:{period}:{scope.key}"


def open_key(period: str, scope: BudgetScope) -> str:
    return f"prism:budget:{{{scope.slot}}}:open:{period}:{scope.key}"


def settled_key(reservation: Reservation) -> str:
    return f"prism:budget:{{{reservation.slot}}}:settled:{reservation.id}"


def to_micro(cents: float) -> int:
    if not math.isfinite(cents) or cents < 0:
        raise ValueError(f"an amount in cents must be finite and not negative, not {cents!r}")
    return round(cents * MICRO)


def _retention_seconds(period: str, now: float) -> int:
    """Seconds from ``now`` until 35 days after ``period`` ends (at least an hour)."""
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    next_month = (start + timedelta(days=32)).replace(day=1)
    return max(3600, math.ceil((next_month + RETENTION).timestamp() - now))


class Budgets:
    def __init__(
        self,
        redis_client: RedisClient,
        *,
        clock: Callable[[], float] = time.time,
        reservation_seconds: float = RESERVATION_SECONDS,
        timeout: float = 1.0,
        scripts: ScriptRunner | None = None,
        history: History | None = None,
    ) -> None:
        self._redis = redis_client
        self._history = history
        self._seeding: Inflight[tuple[SpendFilter, str], float] = Inflight()
        self._clock = clock
        self._timeout = timeout
        self._reservation_seconds = reservation_seconds
        scripts = scripts or ScriptRunner(redis_client)
        self._reserve = scripts.register(_RESERVE)
        self._settle = scripts.register(_SETTLE)
        self._seed = scripts.register(_SEED)

    async def reserve(self, scopes: Sequence[BudgetScope], worst_cents: float) -> Reservation:
        """Hold ``worst_cents`` against every scope, or raise :class:`BudgetExceeded` and hold nothing."""
        now = self._clock()
        distinct = tuple({scope.key: scope for scope in scopes}.values())  # one hold per budget
        if len({scope.slot for scope in distinct}) > 1:
            raise ValueError("one reservation's budgets must be one project's (their keys share a hash slot)")
        reservation = Reservation(uuid.uuid4().hex, distinct, to_micro(worst_cents), period_of(now))
        if not reservation.scopes:
            return reservation
        keys: list[str] = []
        for scope in reservation.scopes:
            keys += [budget_key(reservation.period, scope), open_key(reservation.period, scope)]
        args: list[str | int] = [
            repr(now),
            repr(now + self._reservation_seconds),
            reservation.worst_micro,
            reservation.member,
            _retention_seconds(reservation.period, now),
        ]
        args += [to_micro(max(scope.limit_cents, 0.0)) for scope in reservation.scopes]
        for _ in range(MAX_SEED_ROUNDS):
            with unavailable_on_failure(_WHAT):
                replies = await self._reserve(keys=keys, args=args, timeout=self._timeout)
            failed, spent, reserved, *unseeded = (as_int(v) for v in replies)
            if failed >= 0:
                break
            await self._seed_from_history(
                reservation.period, [reservation.scopes[i - 1] for i in unseeded], now
            )
        else:
            raise LimitsUnavailable(_WHAT, "its Redis store keeps losing the month's spend")
        if failed:
            scope = reservation.scopes[failed - 1]
            raise BudgetExceeded(scope.label, scope.limit_cents, (spent + reserved) / MICRO, worst_cents)
        return reservation

    async def _seed_from_history(self, period: str, scopes: list[BudgetScope], now: float) -> None:
        """Add what the usage log holds for these scopes in ``period`` (0 without a history)."""
        amounts: list[int] = []
        for scope in scopes:
            history = self._history
            try:
                cents = (
                    0.0
                    if history is None
                    # Concurrent seeds of one scope share one query, never cancelled (asyncpg leaks).
                    else await self._seeding.run(
                        (scope.rows, period),
                        partial(history, scope.rows, period),
                        HISTORY_SECONDS,
                        from_arrival=True,
                    )
                )
            except Exception as error:  # Postgres down too: the month's spend is unknown
                because = f"the month's spend cannot be read from the usage log ({type(error).__name__})"
                raise LimitsUnavailable(_WHAT, because) from None
            amounts.append(to_micro(cents))
        keys = [budget_key(period, scope) for scope in scopes]
        with unavailable_on_failure(_WHAT):
            args = [_retention_seconds(period, now), *amounts]
            await self._seed(keys=keys, args=args, timeout=self._timeout)

    async def settle(self, reservation: Reservation, actual_cents: float) -> None:
        """Release the reservation and charge ``actual_cents`` to its month; a repeat is a no-op."""
        actual = to_micro(actual_cents)
        if not reservation.scopes:
            return
        keys = [settled_key(reservation)]
        for scope in reservation.scopes:
            keys += [budget_key(reservation.period, scope), open_key(reservation.period, scope)]
        args: list[str | int] = [
            reservation.member,
            -reservation.worst_micro,
            actual,
            _retention_seconds(reservation.period, self._clock()),
            SETTLED_MARKER_SECONDS,
        ]
        with unavailable_on_failure(_WHAT):
            await self._settle(keys=keys, args=args, timeout=self._timeout)

    async def spent(self, scope: BudgetScope, period: str | None = None) -> float:
        """Cents settled against ``scope`` in ``period`` (default: the current month)."""
        return (await self._amounts(scope, period))[0]

    async def reserved(self, scope: BudgetScope, period: str | None = None) -> float:
        """Cents held by open reservations against ``scope`` in ``period`` (default: the current month)."""
        return (await self._amounts(scope, period))[1]

    async def _amounts(self, scope: BudgetScope, period: str | None) -> tuple[float, float]:
        """A hash that lost the month's spend (Redis restarted empty) is seeded first, as a reserve would."""
        now = self._clock()
        period = period or period_of(now)
        key = budget_key(period, scope)
        for _ in range(MAX_SEED_ROUNDS):
            async with redis_guard(_WHAT, self._timeout):
                spent, reserved, seeded = await self._redis.hmget(key, ["spent", "reserved", "seeded"])
            if seeded is not None:
                break
            await self._seed_from_history(period, [scope], now)
        else:
            raise LimitsUnavailable(_WHAT, "its Redis store keeps losing the month's spend")
        return as_int(spent or 0) / MICRO, as_int(reserved or 0) / MICRO
