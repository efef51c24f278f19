"""A budget survives Redis losing its memory: the month's spend is rebuilt from the usage log before
any request is admitted against it (a private redis-server restarted empty mid-month, real Postgres,
a real origin, 200 concurrent requests)."""

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from origin.controls.admission import worst_case_cents
from origin.settings import Settings
from origin.stores import controls, postgres
from origin.stores.sql import query
from origin.usage.writer import insert_arguments
from shared.usage import UsageRow
from tests.fakes.provider import FakeProvider
from tests.harness import running_origin
from tests.origin.helpers import gateway_settings
from tests.redisserver import TempRedis

HELLO: list[Any] = [{"role": "user", "content": "spend it"}]
BURST = 200


async def _month_spend(pool: postgres.Pool, project_id: str) -> float:
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent = await pool.fetchval(
        "SELECT coalesce(sum(cost_provider_cents), 0)::float8 FROM usage_logs"
        " WHERE project_id = $1 AND created_at >= $2",
        project_id,
        start,
    )
    return float(spent)


@pytest.mark.usefixtures("migrated")
async def test_a_budget_at_its_limit_stays_there_when_redis_restarts_empty(
    base_settings: Settings, pool: postgres.Pool, fake_server: tuple[FakeProvider, str], tmp_path: Path
) -> None:
    key, record = await postgres.create_key(
        pool, project=f"rebuild-{uuid.uuid4().hex[:8]}", org="tests", pepper=base_settings.key_pepper
    )
    with TempRedis() as server:
        settings = replace(gateway_settings(base_settings, fake_server[1], tmp_path), redis_url=server.url)
        async with running_origin(settings) as origin:
            # A small output cap keeps a worst case within a few answers' cost, so extra admissions show.
            worst = worst_case_cents(
                {"messages": HELLO, "max_tokens": 8}, (origin.state.config.models["beta"],)
            )
            budget = 40 * worst
            await controls.set_budget(pool, record.project_id, Decimal(str(budget)))
            # Earlier this month the project spent all but three worst cases (rows the usage log holds).
            earlier = UsageRow(
                org_id=record.org_id,
                project_id=record.project_id,
                key_id=record.key_id,
                model_used="beta",
                provider="fakeoai",
                cost_provider_cents=budget - 3 * worst,
                cost_total_cents=budget - 3 * worst,
            )
            await pool.execute(query("insert_usage_rows"), *insert_arguments([earlier]))
            prism = openai.AsyncOpenAI(base_url=f"{origin.url}/v1", api_key=key, max_retries=0, timeout=30)

            async def ask() -> str:
                try:
                    await prism.chat.completions.create(
                        model="beta",
                        messages=HELLO,
                        max_tokens=8,
                        extra_headers={"Cache-Control": "no-store"},
                    )
                except openai.RateLimitError as refused:
                    return str(refused.code)
                return "ok"

            assert await ask() == "ok"  # the first reserve of the month rebuilt the spend
            await origin.state.background.drain()
            await origin.state.writer.flush()
            cost = await _month_spend(pool, record.project_id) - (budget - 3 * worst)
            server.restart()  # empty: the budget's hash, its reservations, the scripts are gone
            outcomes = await asyncio.gather(*(ask() for _ in range(BURST)), return_exceptions=True)
            await origin.state.background.drain()
            await origin.state.writer.flush()
    admitted = outcomes.count("ok")
    assert outcomes.count("budget_exceeded") + admitted == BURST, [
        o for o in outcomes if o not in ("ok", "budget_exceeded")
    ]
    # The month had three worst cases left and one request went before the restart. Each reservation
    # holds a worst case until its answer settles for less, so the burst gets two at once and, as
    # answers settle, at most as many as fit if they came one by one: (3w - cost - w) / cost + 1.
    assert 2 <= admitted <= 2 * worst / cost + 1e-9, (admitted, worst, cost)
    assert await _month_spend(pool, record.project_id) <= budget + 1e-9  # not a cent past the limit
