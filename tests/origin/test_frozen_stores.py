"""A store that is alive but answers nothing (SIGSTOP) must not hang requests: known keys are served
fast, unseen keys get a quick 503, and once the store thaws service is normal and no usage row is lost.
"""

import asyncio
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import aiohttp

from origin.settings import Settings
from origin.state import LIMITS_DEADLINE_SECONDS
from origin.stores import controls, postgres
from origin.stores.migrate import migrate
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, running_origin
from tests.origin.helpers import gateway_settings
from tests.pgcluster import TempPostgres
from tests.redisserver import TempRedis

FROZEN_SECONDS = 6.0
P99_BOUND = 2.0


@dataclass
class Outcome:
    status: int
    code: str | None
    seconds: float
    request_id: str | None
    cache: str | None


@dataclass
class Load:
    """Requests fired at an origin, each with its status and latency."""

    origin: RunningOrigin
    session: aiohttp.ClientSession
    seen: dict[str, list[Outcome]] = field(default_factory=dict)

    async def send(self, label: str, key: str, content: str | None = None, **headers: str) -> Outcome:
        text = content or f"frozen {uuid.uuid4().hex}"
        body = {"model": "beta", "messages": [{"role": "user", "content": text}]}
        sent = {"Authorization": f"Bearer {key}", "Cache-Control": "no-store", **headers}
        started = time.monotonic()
        async with self.session.post(
            self.origin.url + "/v1/chat/completions", json=body, headers=sent
        ) as response:
            answer = await response.json()
            outcome = Outcome(
                response.status,
                None if response.status == 200 else answer["error"]["code"],
                time.monotonic() - started,
                response.headers.get("x-prism-request-id"),
                response.headers.get("x-prism-cache"),
            )
        self.seen.setdefault(label, []).append(outcome)
        return outcome

    async def for_seconds(self, seconds: float, workers: int, send: Callable[[], Awaitable[Outcome]]) -> None:
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                await send()

        await asyncio.gather(*(worker() for _ in range(workers)))


def p99(outcomes: list[Outcome]) -> float:
    latencies = sorted(outcome.seconds for outcome in outcomes)
    return latencies[math.ceil(0.99 * len(latencies)) - 1]


async def readyz(session: aiohttp.ClientSession, origin: RunningOrigin) -> tuple[int, dict[str, str], float]:
    started = time.monotonic()
    async with session.get(origin.url + "/readyz") as response:
        body = await response.json()
    return response.status, body["checks"], time.monotonic() - started


async def ready_again(session: aiohttp.ClientSession, origin: RunningOrigin, seconds: float = 10.0) -> int:
    """The readiness status once the checks held during the freeze have finished (it converges)."""
    deadline = time.monotonic() + seconds
    while True:
        status = (await readyz(session, origin))[0]
        if status == 200 or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.2)


async def settled_rows(origin: RunningOrigin, pool: postgres.Pool, request_ids: list[str]) -> set[str]:
    """The ids among ``request_ids`` that reached usage_logs, once the writer and spool are drained."""
    writer = origin.state.writer
    await origin.state.background.drain()
    await writer.flush()
    for _ in range(100):
        if writer.spool_size == 0 and writer.queue_depth == 0:
            break
        await asyncio.sleep(0.1)
    rows = await pool.fetch(
        "SELECT request_id::text AS id FROM usage_logs WHERE request_id = ANY($1::uuid[])", request_ids
    )
    return {row["id"] for row in rows}


async def test_a_frozen_postgres_serves_known_keys_fast_and_503s_unseen_ones(
    base_settings: Settings, fake_server: tuple[FakeProvider, str], tmp_path: Path
) -> None:
    with TempPostgres() as cluster:
        await migrate(cluster.url)
        pool = await postgres.create_pool(cluster.url, max_size=2)
        pepper = base_settings.key_pepper
        known, _ = await postgres.create_key(pool, project="frozen-pg", org="tests", pepper=pepper)
        unseen, _ = await postgres.create_key(pool, project="frozen-pg", org="tests", pepper=pepper)
        # A short Redis key cache, so that during the freeze lookups really need Postgres.
        settings = gateway_settings(
            base_settings, fake_server[1], tmp_path, database_url=cluster.url, key_cache_seconds=0.5
        )
        async with running_origin(settings) as origin, aiohttp.ClientSession() as session:
            load = Load(origin, session)
            assert (await load.send("before", known)).status == 200
            cluster.freeze()
            try:
                frozen_at = time.monotonic()
                await asyncio.gather(
                    load.for_seconds(FROZEN_SECONDS, 4, lambda: load.send("known", known)),
                    load.for_seconds(FROZEN_SECONDS, 1, lambda: load.send("unseen", unseen)),
                )
                ready = await readyz(session, origin)
                spooled = origin.state.writer.spool_size + origin.state.writer.queue_depth
                assert time.monotonic() - frozen_at > FROZEN_SECONDS  # the freeze covered the load
            finally:
                cluster.thaw()
            known_seen, unseen_seen = load.seen["known"], load.seen["unseen"]
            assert {(o.status, o.code) for o in known_seen} == {(200, None)}
            assert {(o.status, o.code) for o in unseen_seen} == {(503, "auth_unavailable")}
            print(
                f"frozen Postgres: {len(known_seen)} known-key requests, p99 {p99(known_seen):.3f}s, "
                f"max {max(o.seconds for o in known_seen):.3f}s; {len(unseen_seen)} unseen-key 503s, "
                f"max {max(o.seconds for o in unseen_seen):.3f}s; /readyz {ready[0]} in {ready[2]:.3f}s"
            )
            assert p99(known_seen) < P99_BOUND
            assert max(o.seconds for o in unseen_seen) < P99_BOUND
            assert ready[0] == 503 and ready[1]["postgres"].startswith("unreachable") and ready[2] < 1.5
            assert ready[1]["redis"] == "ok" and spooled > 0  # the rows were held back, not written

            thawed = await load.send("after", unseen)  # it waits for the held lookup, which now finishes
            assert (thawed.status, (await load.send("after", known)).status) == (200, 200)
            assert await ready_again(session, origin) == 200
            answered = [o.request_id for o in load.seen["before"] + known_seen + load.seen["after"]]
            ids = [request_id for request_id in answered if request_id is not None]
            assert await settled_rows(origin, pool, ids) == set(ids)
        await pool.close()


async def test_a_frozen_redis_misses_caches_fails_limits_closed_and_serves_the_rest(
    base_settings: Settings,
    fake_server: tuple[FakeProvider, str],
    pool: postgres.Pool,
    tmp_path: Path,
) -> None:
    pepper = base_settings.key_pepper
    known, _ = await postgres.create_key(
        pool, project=f"fr-{uuid.uuid4().hex[:6]}", org="tests", pepper=pepper
    )
    unseen, _ = await postgres.create_key(
        pool, project=f"fr-{uuid.uuid4().hex[:6]}", org="tests", pepper=pepper
    )
    budgeted, record = await postgres.create_key(
        pool, project=f"fb-{uuid.uuid4().hex[:6]}", org="tests", pepper=pepper
    )
    await controls.set_budget(pool, record.project_id, Decimal(100))
    cached = {"Cache-Control": "max-age=60"}
    semantic = {**cached, "X-Prism-Semantic": "on"}
    with TempRedis() as server:
        settings = replace(gateway_settings(base_settings, fake_server[1], tmp_path), redis_url=server.url)
        async with running_origin(settings) as origin, aiohttp.ClientSession() as session:
            load = Load(origin, session)
            for key in (known, budgeted):
                assert (await load.send("before", key, **cached)).status == 200
            server.freeze()
            try:
                await asyncio.gather(
                    # Every Redis stage on the way: the key cache, single-flight and the exact and
                    # semantic caches, session memory.
                    load.for_seconds(FROZEN_SECONDS, 2, lambda: load.send("known", known, **cached)),
                    load.for_seconds(FROZEN_SECONDS, 1, lambda: load.send("known", known, **semantic)),
                    load.for_seconds(
                        FROZEN_SECONDS, 1, lambda: load.send("known", known, **{"X-Prism-Session": "s1"})
                    ),
                    load.for_seconds(FROZEN_SECONDS, 1, lambda: load.send("budgeted", budgeted)),
                )
                unseen_outcome = await load.send("unseen", unseen)  # keys live in Postgres: served
                ready = await readyz(session, origin)
            finally:
                server.thaw()
            known_seen, budgeted_seen = load.seen["known"], load.seen["budgeted"]
            print(
                f"frozen Redis: {len(known_seen)} known-key requests, p99 {p99(known_seen):.3f}s, "
                f"max {max(o.seconds for o in known_seen):.3f}s; {len(budgeted_seen)} budgeted 503s, "
                f"max {max(o.seconds for o in budgeted_seen):.3f}s; /readyz {ready[0]} in {ready[2]:.3f}s"
            )
            assert {(o.status, o.code) for o in known_seen} == {(200, None)}
            assert p99(known_seen) < P99_BOUND
            assert {(o.status, o.code) for o in budgeted_seen} == {(503, "limits_unavailable")}
            assert max(o.seconds for o in budgeted_seen) < LIMITS_DEADLINE_SECONDS + 1.0  # closed, in time
            assert unseen_outcome.status == 200
            assert ready[0] == 503 and ready[1]["redis"].startswith("unreachable") and ready[2] < 1.5

            assert (await load.send("after", budgeted)).status == 200
            first = await load.send("after", known, "cached after the thaw", **cached)
            again = await load.send("after", known, "cached after the thaw", **cached)
            assert (first.status, first.cache, again.status, again.cache) == (200, "miss", 200, "hit-exact")
            assert await ready_again(session, origin) == 200
            answered = [o for outcomes in load.seen.values() for o in outcomes]
            ids = [o.request_id for o in answered if o.request_id is not None]
            assert len(ids) == len(answered)  # every request past auth has a usage row
            assert await settled_rows(origin, pool, ids) == set(ids)
