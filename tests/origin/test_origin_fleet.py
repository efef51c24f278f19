"""Three origins (real ``prism serve`` processes) behind a real HAProxy on loopback: single-flight and
rate limits hold across them, and one killed with SIGKILL mid-load loses no row of a request it answered."""

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from origin.settings import Settings
from origin.stores import controls, postgres
from tests.balancer import DEPLOY_CONFIG, TempHaproxy, haproxy_binary, haproxy_missing, loopback_config
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.fleet import OriginProcess, origin_env
from tests.origin.helpers import gateway_settings

pytestmark = pytest.mark.skipif(haproxy_missing() is not None, reason=haproxy_missing() or "")
HAPROXY = haproxy_binary() or "haproxy"

ORIGINS = 3


@dataclass
class Fleet:
    origins: list[OriginProcess]
    balancer: TempHaproxy
    fake: FakeProvider
    settings: Settings

    def client(self, key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.balancer.url + "/v1", api_key=key, max_retries=0, timeout=30)

    async def key(self, pool: postgres.Pool, **limits: Any) -> str:
        key, _ = await self.key_and_record(pool, **limits)
        return key

    async def key_and_record(self, pool: postgres.Pool, **limits: Any) -> tuple[str, postgres.KeyRecord]:
        return await postgres.create_key(
            pool,
            project=f"fleet-{uuid.uuid4().hex[:8]}",
            org="tests",
            pepper=self.settings.key_pepper,
            limits=postgres.KeyLimits(**limits),
        )


@pytest.fixture(scope="module")
def fleet(
    base_settings: Settings,
    migrated: str,
    fake_server: tuple[FakeProvider, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    settings = gateway_settings(base_settings, fake_server[1], root)
    origins = [
        OriginProcess(
            origin_env(settings, root / f"spool-{n}", settings.provider_api_keys), root / f"origin-{n}.log"
        )
        for n in range(ORIGINS)
    ]
    with ExitStack() as stack:
        for origin in origins:
            stack.callback(origin.stop)
            origin.start()
        for origin in origins:
            origin.wait_ready()
        balancer = stack.enter_context(TempHaproxy([origin.address for origin in origins]))
        yield Fleet(origins, balancer, fake_server[0], settings)


@pytest.fixture(autouse=True)
def _fake_as_found(fake: FakeProvider) -> Iterator[None]:
    """The session's fake provider, reset before each test (``fake``) and after, for the tests that follow."""
    yield
    fake.reset()


async def _served_by_each(fleet: Fleet) -> list[float]:
    """Requests each origin has counted (``prism_requests_total``, every label)."""
    counts = []
    async with aiohttp.ClientSession() as session:
        for origin in fleet.origins:
            async with session.get(origin.url + "/metrics") as response:
                text = await response.text()
            lines = [line for line in text.splitlines() if line.startswith("prism_requests_total{")]
            counts.append(sum(float(line.rsplit(" ", 1)[1]) for line in lines))
    return counts


async def test_identical_requests_on_three_origins_reach_the_provider_once(
    fleet: Fleet, pool: postgres.Pool
) -> None:
    fleet.fake.configure("beta", Behaviour(latency_ms=400))  # the config gives it 0.6 s
    key = await fleet.key(pool)
    before = await _served_by_each(fleet)
    question: list[Any] = [{"role": "user", "content": f"one answer for all {uuid.uuid4()}"}]
    raws = await asyncio.gather(
        *(
            fleet.client(key).chat.completions.with_raw_response.create(model="beta", messages=question)
            for _ in range(9)
        )
    )
    served = [after - earlier for after, earlier in zip(await _served_by_each(fleet), before, strict=True)]
    assert sum(served) == 9 and all(count >= 1 for count in served)  # every origin took some
    assert fleet.fake.count(path="/v1/chat/completions") == 1
    assert len({raw.parse().choices[0].message.content for raw in raws}) == 1
    assert sorted(raw.headers["x-prism-cache"] for raw in raws).count("miss") == 1


async def test_a_keys_rate_limit_holds_across_the_origins(fleet: Fleet, pool: postgres.Pool) -> None:
    key = await fleet.key(pool, rpm=10)
    statuses = []
    for n in range(20):
        try:
            await fleet.client(key).chat.completions.create(
                model="beta", messages=[{"role": "user", "content": f"count me {n}"}]
            )
            statuses.append(200)
        except openai.RateLimitError:
            statuses.append(429)
    assert statuses.count(200) == 10 and statuses.count(429) == 10


async def test_a_budget_holds_across_the_origins(fleet: Fleet, pool: postgres.Pool) -> None:
    fleet.fake.configure("beta", Behaviour(latency_ms=100))  # all in flight at once

    async def ask(key: str, n: int) -> str:
        try:
            await fleet.client(key).chat.completions.create(
                model="beta", max_tokens=16, messages=[{"role": "user", "content": f"spend {n:04d}"}]
            )
        except openai.RateLimitError as error:
            return str(error.code)
        return "ok"

    probe, record = await fleet.key_and_record(pool)
    assert await ask(probe, 0) == "ok"
    spend = "SELECT coalesce(sum(cost_total_cents), 0) FROM usage_logs WHERE project_id = $1"
    for _ in range(100):
        if (one := await pool.fetchval(spend, record.project_id)) > 0:
            break
        await asyncio.sleep(0.05)
    key, record = await fleet.key_and_record(pool)
    budget = one * Decimal("60.5")  # about ten requests at the worst case each is reserved for
    await controls.set_budget(pool, record.project_id, budget)
    outcomes = await asyncio.gather(*(ask(key, n) for n in range(30)))
    admitted = outcomes.count("ok")
    assert 2 <= admitted < 30 and outcomes.count("budget_exceeded") == 30 - admitted, outcomes
    for _ in range(100):
        if (
            await pool.fetchval("SELECT count(*) FROM usage_logs WHERE project_id = $1", record.project_id)
            == 30
        ):
            break
        await asyncio.sleep(0.05)
    assert await pool.fetchval(spend, record.project_id) <= budget


async def test_an_origin_killed_mid_load_loses_no_row_of_a_request_it_answered(
    fleet: Fleet, pool: postgres.Pool
) -> None:
    fleet.fake.configure("beta", Behaviour(latency_ms=20))
    key = await fleet.key(pool)
    client = fleet.client(key)
    answered: list[str] = []
    failed: list[str] = []
    pending = list(range(300))
    victim = fleet.origins[1]
    a_third_answered = asyncio.Event()

    async def worker() -> None:
        while pending:
            n = pending.pop()
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model="beta", messages=[{"role": "user", "content": f"row {n} of the fleet"}]
                )
                answered.append(raw.headers["x-prism-request-id"])
                if len(answered) == 100:
                    a_third_answered.set()
            except (openai.APIStatusError, openai.APIConnectionError) as error:
                failed.append(type(error).__name__)

    async def killer() -> None:
        await a_third_answered.wait()
        await asyncio.to_thread(victim.kill)

    concurrency = 12
    await asyncio.gather(killer(), *(worker() for _ in range(concurrency)))
    # At most what the killed origin held: the requests in flight there when it died.
    assert len(answered) + len(failed) == 300 and len(failed) <= concurrency
    await asyncio.to_thread(victim.start)  # on its own spool: what its journal held is replayed
    await asyncio.to_thread(victim.wait_ready)
    query = "SELECT count(*) FROM usage_logs WHERE request_id = ANY($1::uuid[])"
    for _ in range(300):
        if await pool.fetchval(query, answered) == len(answered):
            break
        await asyncio.sleep(0.1)
    assert await pool.fetchval(query, answered) == len(answered)


def test_the_deploy_config_is_what_haproxy_accepts(tmp_path: Path) -> None:
    done = subprocess.run([HAPROXY, "-c", "-f", str(DEPLOY_CONFIG)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loopback = tmp_path / "loopback.cfg"
    loopback.write_text(loopback_config(8080, ["127.0.0.1:8101"]))
    assert "server origin1 127.0.0.1:8101 check" in loopback.read_text()
    done = subprocess.run([HAPROXY, "-c", "-f", str(loopback)], capture_output=True, text=True)
    assert done.returncode == 0 and "WARNING" not in done.stderr, done.stderr
