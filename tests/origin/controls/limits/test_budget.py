"""Monthly budgets on real Redis: reserve, settle, reclaim, month rollover, and racing instances."""

import asyncio
import random

import pytest
import redis.asyncio as redis

from origin.controls.limits import (
    BudgetExceeded,
    Budgets,
    BudgetScope,
    LimitsUnavailable,
    Reservation,
    SpendFilter,
)
from origin.controls.limits.budget import MICRO, RETENTION, budget_key, open_key
from tests.clock import Clock
from tests.origin.controls.limits.conftest import MID_JANUARY

PROJECT = BudgetScope("project:7", 10.0, "project acme/web", SpendFilter(project_id="7"))
TAG = BudgetScope(
    "project:7:tag:feature=onboarding", 100.0, "tag feature=onboarding", SpendFilter(project_id="7")
)


async def _exceeded(budgets: Budgets, scopes: list[BudgetScope], worst: float) -> BudgetExceeded:
    with pytest.raises(BudgetExceeded) as caught:
        await budgets.reserve(scopes, worst)
    return caught.value


async def test_reserve_within_the_limit_holds_the_worst_case(
    redis_client: "redis.Redis", clock: Clock
) -> None:
    budgets = Budgets(redis_client, clock=clock)
    reservation = await budgets.reserve([PROJECT], 4.25)
    assert reservation.period == "2025-01"
    assert (reservation.worst_micro, reservation.worst_cents) == (4_250_000, 4.25)
    assert await budgets.reserved(PROJECT) == 4.25
    assert await budgets.spent(PROJECT) == 0.0
    stored = await redis_client.hgetall(budget_key("2025-01", PROJECT))
    assert stored == {b"reserved": b"4250000", b"spent": b"0", b"seeded": b"1"}


async def test_over_the_limit_names_the_scope_its_budget_and_its_spend(
    redis_client: "redis.Redis", clock: Clock
) -> None:
    budgets = Budgets(redis_client, clock=clock)
    await budgets.settle(await budgets.reserve([PROJECT], 5.0), 5.0)
    await budgets.reserve([PROJECT], 3.2)  # open: counts as spent for admission
    error = await _exceeded(budgets, [PROJECT], 2.0)
    assert (error.scope_label, error.limit_cents, error.spent_cents, error.requested_cents) == (
        "project acme/web",
        10.0,
        8.2,
        2.0,
    )
    assert str(error) == (
        "Monthly budget for project acme/web is 10.00 cents; 8.20 cents are spent or reserved, "
        "and this request may cost up to 2.00 cents."
    )
    assert await budgets.reserved(PROJECT) == 3.2
    exact_fit = await budgets.reserve([PROJECT], 1.8)
    assert await budgets.reserved(PROJECT) == 5.0
    await budgets.settle(exact_fit, 1.8)


async def test_settle_charges_the_actual_cost_and_releases_the_rest(
    redis_client: "redis.Redis", clock: Clock
) -> None:
    budgets = Budgets(redis_client, clock=clock)
    first = await budgets.reserve([PROJECT, TAG], 6.0)
    second = await budgets.reserve([PROJECT], 4.0)
    await budgets.settle(first, 1.5)
    assert (await budgets.spent(PROJECT), await budgets.reserved(PROJECT)) == (1.5, 4.0)
    assert (await budgets.spent(TAG), await budgets.reserved(TAG)) == (1.5, 0.0)
    assert await redis_client.zrange(open_key("2025-01", PROJECT), 0, -1) == [second.member.encode()]
    await budgets.reserve([PROJECT], 4.5)  # the 4.5 cents the settle released


async def test_settling_twice_is_a_no_op(redis_client: "redis.Redis", clock: Clock) -> None:
    budgets = Budgets(redis_client, clock=clock)
    reservation = await budgets.reserve([PROJECT, TAG], 5.0)
    await budgets.settle(reservation, 3.0)
    await budgets.settle(reservation, 3.0)
    await budgets.settle(reservation, 9.0)
    for scope in (PROJECT, TAG):
        assert (await budgets.spent(scope), await budgets.reserved(scope)) == (3.0, 0.0)


@pytest.mark.parametrize(
    ("scopes", "failing"),
    [
        ([PROJECT, BudgetScope(TAG.key, 5.0, TAG.label, TAG.rows)], "tag feature=onboarding"),
        ([BudgetScope(PROJECT.key, 5.0, PROJECT.label, PROJECT.rows), TAG], "project acme/web"),
    ],
)
async def test_one_failing_scope_reserves_nothing_anywhere(
    redis_client: "redis.Redis", clock: Clock, scopes: list[BudgetScope], failing: str
) -> None:
    budgets = Budgets(redis_client, clock=clock)
    assert (await _exceeded(budgets, scopes, 6.0)).scope_label == failing
    for scope in scopes:
        assert await budgets.reserved(scope) == 0.0
        assert await redis_client.zcard(open_key("2025-01", scope)) == 0
    await budgets.reserve(scopes, 5.0)
    assert [await budgets.reserved(scope) for scope in scopes] == [5.0, 5.0]


async def test_a_new_month_starts_empty_and_settles_go_to_the_reserving_month(
    redis_client: "redis.Redis", clock: Clock
) -> None:
    budgets = Budgets(redis_client, clock=clock)
    await budgets.settle(await budgets.reserve([PROJECT], 8.0), 8.0)
    straddling = await budgets.reserve([PROJECT], 1.0)
    await _exceeded(budgets, [PROJECT], 8.0)
    ttl = await redis_client.ttl(budget_key("2025-01", PROJECT))
    assert RETENTION.total_seconds() < ttl <= RETENTION.total_seconds() + 31  # 35 days after Jan 31 24:00

    clock.now += 60  # 2025-02-01 00:00:30 UTC
    february = await budgets.reserve([PROJECT], 8.0)
    assert february.period == "2025-02"
    await budgets.settle(straddling, 0.75)
    await budgets.settle(february, 2.0)
    assert await budgets.spent(PROJECT, "2025-01") == 8.75
    assert await budgets.reserved(PROJECT, "2025-01") == 0.0
    assert await budgets.spent(PROJECT) == 2.0


async def test_reservations_past_their_deadline_are_reclaimed(redis_client: "redis.Redis") -> None:
    clock = Clock(MID_JANUARY)
    budgets = Budgets(redis_client, clock=clock, reservation_seconds=600)
    orphan = await budgets.reserve([PROJECT, TAG], 6.0)  # its instance "dies" here
    assert (await _exceeded(budgets, [PROJECT], 6.0)).spent_cents == 6.0
    clock.now += 599
    await _exceeded(budgets, [PROJECT], 6.0)
    clock.now += 2
    replacement = await budgets.reserve([PROJECT], 6.0)
    assert await budgets.reserved(PROJECT) == 6.0
    assert await budgets.reserved(TAG) == 6.0  # only a reserve touching the tag reclaims there

    await budgets.settle(orphan, 2.5)  # a late settle still charges, and releases nothing twice
    assert (await budgets.spent(PROJECT), await budgets.reserved(PROJECT)) == (2.5, 6.0)
    await budgets.settle(replacement, 6.0)
    assert (await budgets.spent(PROJECT), await budgets.reserved(PROJECT)) == (8.5, 0.0)
    await budgets.reserve([TAG], 1.0)
    assert (await budgets.spent(TAG), await budgets.reserved(TAG)) == (2.5, 1.0)


async def test_a_scope_named_twice_is_held_once(redis_client: "redis.Redis", clock: Clock) -> None:
    budgets = Budgets(redis_client, clock=clock)
    reservation = await budgets.reserve([PROJECT, TAG, PROJECT], 4.0)
    assert reservation.scopes == (PROJECT, TAG)
    assert await budgets.reserved(PROJECT) == 4.0
    await budgets.settle(reservation, 1.0)
    assert (await budgets.spent(PROJECT), await budgets.reserved(PROJECT)) == (1.0, 0.0)


async def test_no_scopes_touch_no_redis() -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    budgets = Budgets(down)
    reservation = await budgets.reserve([], 12.0)
    await budgets.settle(reservation, 3.0)
    await down.aclose()


async def test_amounts_must_be_finite_and_not_negative(redis_client: "redis.Redis") -> None:
    budgets = Budgets(redis_client)
    for bad in (-0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            await budgets.reserve([PROJECT], bad)
    with pytest.raises(ValueError):
        await budgets.settle(await budgets.reserve([PROJECT], 1.0), -1.0)


async def _race(
    clients: list["redis.Redis"],
    clock: Clock,
    scopes: list[BudgetScope],
    worst: float,
    actual: list[int],
    *,
    spread: float,
) -> list[Reservation | BudgetExceeded]:
    """One request per ``actual`` entry, arriving within ``spread`` seconds on alternating instances;
    each admitted one holds its reservation up to 5 ms, then settles ``actual[i]`` micro-cents on the
    other instance."""
    # A generous deadline: this asserts atomicity, not latency, and CI machines sometimes stall.
    instances = [Budgets(client, clock=clock, timeout=30.0) for client in clients]
    rng = random.Random(20250131)
    arrivals = [rng.random() * spread for _ in actual]
    holds = [rng.random() / 200 for _ in actual]

    async def request(i: int) -> Reservation | BudgetExceeded:
        await asyncio.sleep(arrivals[i])
        try:
            reservation = await instances[i % len(instances)].reserve(scopes, worst)
        except BudgetExceeded as error:
            return error
        await asyncio.sleep(holds[i])
        await instances[(i + 1) % len(instances)].settle(reservation, actual[i] / MICRO)
        return reservation

    return await asyncio.gather(*(request(i) for i in range(len(actual))))


def _refused(outcomes: list[Reservation | BudgetExceeded]) -> list[BudgetExceeded]:
    return [o for o in outcomes if isinstance(o, BudgetExceeded)]


async def test_racing_instances_admit_exactly_the_room_when_actuals_equal_worst(
    redis_client: "redis.Redis", instances: list["redis.Redis"], clock: Clock
) -> None:
    room_for_ten = BudgetScope("project:race", 35.0, "project race")
    outcomes = await _race(instances, clock, [room_for_ten], 3.5, [3_500_000] * 200, spread=0.0)
    refused = _refused(outcomes)
    budgets = Budgets(redis_client, clock=clock, timeout=30.0)
    assert len(refused) == 190  # 10 admitted
    assert await budgets.spent(room_for_ten) == 35.0
    assert await budgets.reserved(room_for_ten) == 0.0
    assert all(error.spent_cents + 3.5 > 35.0 for error in refused)


async def test_racing_instances_with_random_actuals_never_pass_the_limit(
    redis_client: "redis.Redis", instances: list["redis.Redis"], clock: Clock
) -> None:
    worst = 3.5
    race = SpendFilter(project_id="race")
    project = BudgetScope("project:race", 10 * worst, "project race", race)
    tag = BudgetScope("project:race:tag:feature=race", 1000.0, "tag feature=race", race)
    rng = random.Random(7)
    actual = [rng.randint(0, 350) * 10_000 for _ in range(200)]  # whole hundredths of a cent, <= worst
    outcomes = await _race(instances, clock, [project, tag], worst, actual, spread=0.05)
    refused = _refused(outcomes)
    charged = sum(actual[i] for i, outcome in enumerate(outcomes) if isinstance(outcome, Reservation))

    budgets = Budgets(redis_client, clock=clock, timeout=30.0)
    spent = await budgets.spent(project)
    assert len(refused) <= 190  # at least 10 admitted
    assert spent <= project.limit_cents + worst  # the bound...
    assert spent <= project.limit_cents  # ...and, with actual <= worst, the limit itself holds
    assert round(spent * MICRO) == charged  # no lost or doubled increment
    assert await budgets.spent(tag) == spent
    assert await budgets.reserved(project) == await budgets.reserved(tag) == 0.0
    assert all(error.scope_label == "project race" for error in refused)
    assert all(error.spent_cents + worst > project.limit_cents for error in refused)


# --- rebuilt from the usage log ------------------------------------------------------------------


class UsageLog:
    """What Postgres would answer for a scope's month, and how often it was asked."""

    def __init__(self, spent: dict[str, float]) -> None:
        self.spent = spent
        self.asked: list[tuple[SpendFilter, str]] = []

    async def __call__(self, rows: SpendFilter, period: str) -> float:
        self.asked.append((rows, period))
        await asyncio.sleep(0.01)
        return self.spent.get(rows.project_id or "", 0.0)


LOGGED = BudgetScope("project:8", 10.0, "project acme/api", SpendFilter(project_id="p8"))


async def test_a_budget_redis_lost_is_rebuilt_from_the_usage_log_once(
    redis_client: "redis.Redis", clock: Clock
) -> None:
    log = UsageLog({"p8": 9.0})
    budgets = Budgets(redis_client, clock=clock, history=log)
    held = await asyncio.gather(*(budgets.reserve([LOGGED], 0.4) for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(outcome, Reservation) for outcome in held) == 2  # 9 spent: room for 1 cent
    assert len(log.asked) == 1 and log.asked[0] == (SpendFilter(project_id="p8"), "2025-01")
    assert await budgets.spent(LOGGED) == 9.0

    await redis_client.flushall()  # a restart without persistence
    log.spent["p8"] = 9.5
    error = await _exceeded(budgets, [LOGGED], 0.6)
    assert (error.spent_cents, len(log.asked)) == (9.5, 2)


async def test_a_settle_on_the_lost_budget_counts_on_top(redis_client: "redis.Redis", clock: Clock) -> None:
    budgets = Budgets(redis_client, clock=clock, history=UsageLog({"p8": 3.0}))
    reservation = await budgets.reserve([LOGGED], 1.0)
    await redis_client.flushall()
    await budgets.settle(reservation, 0.5)  # in flight across the loss: its row is not in the log yet
    await budgets.reserve([LOGGED], 1.0)
    assert await budgets.spent(LOGGED) == 3.5


async def test_an_unreadable_usage_log_fails_closed(redis_client: "redis.Redis", clock: Clock) -> None:
    async def down(rows: SpendFilter, period: str) -> float:
        raise OSError("connection refused")

    budgets = Budgets(redis_client, clock=clock, history=down)
    with pytest.raises(LimitsUnavailable, match="the usage log"):
        await budgets.reserve([LOGGED], 1.0)
    with pytest.raises(LimitsUnavailable, match="the usage log"):  # nor can what is left be told
        await budgets.reserved(LOGGED)
    assert not await redis_client.exists(budget_key("2025-01", LOGGED))  # nothing was held


async def test_what_a_lost_budget_has_spent_is_read_back_from_the_usage_log(
    redis_client: "redis.Redis", clock: Clock
) -> None:
    log = UsageLog({"p8": 7.25})
    budgets = Budgets(redis_client, clock=clock, history=log)
    await budgets.settle(await budgets.reserve([LOGGED], 1.0), 0.5)
    assert (await budgets.spent(LOGGED), len(log.asked)) == (7.75, 1)
    await redis_client.flushall()  # the settle's row is in the log by now
    log.spent["p8"] = 7.75
    assert (await budgets.spent(LOGGED), await budgets.reserved(LOGGED)) == (7.75, 0.0)
    assert len(log.asked) == 2  # asked once more, then the hash is seeded again
    assert await budgets.spent(LOGGED) == 7.75 and len(log.asked) == 2
