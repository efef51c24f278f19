"""A key's own limits through a real origin (real Redis, real Postgres): its monthly budget with the
project's in one reservation, its requests and tokens per minute, the models it may use, its expiry,
and its own month in ``GET /v1/usage/summary``."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import openai
import pytest

from origin.controls.admission import worst_case_cents
from origin.stores import controls, postgres
from tests.harness import RunningOrigin
from tests.origin.helpers import usage_row

HELLO = [{"role": "user", "content": "hello limits"}]


async def limited_key(
    origin: RunningOrigin, pool: postgres.Pool, **limits: object
) -> tuple[str, postgres.KeyRecord]:
    project = f"keylimits-{uuid.uuid4().hex[:8]}"
    return await postgres.create_key(
        pool,
        project=project,
        org="keylimits-org",
        pepper=origin.state.settings.key_pepper,
        limits=postgres.KeyLimits(**limits),  # type: ignore[arg-type]
    )


def client(origin: RunningOrigin, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{origin.url}/v1",
        api_key=key,
        max_retries=0,
        timeout=20,
        default_headers={"Cache-Control": "no-store"},
    )


async def test_a_keys_budget_refuses_it_while_the_project_goes_on(
    origin: RunningOrigin, pool: postgres.Pool
) -> None:
    body = {"messages": HELLO, "max_tokens": 4000}
    worst = worst_case_cents(body, (origin.state.config.models["beta"],))
    assert 0.34 < worst < 0.5  # two such requests fit in a cent at once, three do not
    key, record = await limited_key(origin, pool, budget_cents=1)
    await controls.set_budget(pool, record.project_id, Decimal("1000"))  # far away: the key's is tightest
    prism = client(origin, key)

    async def ask() -> str:
        try:
            raw = await prism.chat.completions.with_raw_response.create(
                model="beta", messages=HELLO, max_tokens=4000
            )
        except openai.RateLimitError as refused:
            assert f"key {record.prefix}" in refused.message
            return str(refused.code)
        return raw.headers["x-prism-cost-cents"]

    outcomes = await asyncio.gather(*(ask() for _ in range(3)))
    assert outcomes.count("budget_exceeded") == 1
    spent = sum(float(outcome) for outcome in outcomes if outcome != "budget_exceeded")
    assert 0 < spent < worst
    other, _ = await postgres.create_key(
        pool, project=record.project_name, org=record.org_name, pepper=origin.state.settings.key_pepper
    )
    assert (await client(origin, other).chat.completions.create(model="beta", messages=HELLO)).choices

    await origin.state.writer.flush()
    async with httpx.AsyncClient(base_url=origin.url) as http:
        summary = (await http.get("/v1/usage/summary", headers={"Authorization": f"Bearer {key}"})).json()
    mine = summary["key"]
    assert (mine["id"], mine["prefix"], mine["budget_cents"]) == (record.key_id, record.prefix, 1)
    assert mine["month_requests"] == 3 and mine["month_cost_cents"] == pytest.approx(spent, abs=1e-5)
    assert mine["budget_left_cents"] == pytest.approx(1 - spent, abs=1e-5)
    assert summary["requests"] > mine["month_requests"]  # the project's summary counts the other key too


async def test_the_lower_of_the_keys_and_the_projects_rpm_applies(
    origin: RunningOrigin, pool: postgres.Pool
) -> None:
    key, record = await limited_key(origin, pool, rpm=2)
    await controls.update_project_settings(pool, record.project_id, {"rpm_limit": 100})
    prism = client(origin, key)
    for _ in range(2):
        await prism.chat.completions.create(model="beta", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as caught:
        await prism.chat.completions.create(model="beta", messages=HELLO)
    assert caught.value.code == "rate_limited" and "2 requests per minute" in caught.value.message


async def test_tokens_per_minute_hold_the_estimate_and_count_what_was_used(
    origin: RunningOrigin, pool: postgres.Pool
) -> None:
    key, _ = await limited_key(origin, pool, tpm=60)
    prism = client(origin, key)
    long = [{"role": "user", "content": "word " * 400}]
    with pytest.raises(openai.RateLimitError) as never:
        await prism.chat.completions.create(model="beta", messages=long)
    assert never.value.code == "tokens_per_minute_exceeded" and "can never pass" in never.value.message
    answered = 0
    with pytest.raises(openai.RateLimitError) as caught:
        for _ in range(20):
            await prism.chat.completions.create(
                model="beta", messages=[{"role": "user", "content": "ten " * 20}]
            )
            await origin.state.background.drain()
            answered += 1
    assert caught.value.code == "tokens_per_minute_exceeded"
    assert 1 <= answered < 5 and 1 <= int(caught.value.response.headers["retry-after"]) <= 60


async def test_a_key_uses_only_its_models_on_every_endpoint(
    origin: RunningOrigin, pool: postgres.Pool
) -> None:
    key, _ = await limited_key(origin, pool, models=("beta", "embed-*"))
    prism = client(origin, key)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await prism.chat.completions.create(model="alpha", messages=HELLO)
    assert (
        denied.value.code == "policy_denied"
        and "this key may use only models matching beta, embed-*" in denied.value.message
    )
    raw = await prism.chat.completions.with_raw_response.create(model="beta", messages=HELLO)
    assert raw.headers["x-prism-model"] == "beta"
    with pytest.raises(openai.PermissionDeniedError):
        await prism.responses.create(model="claude", input="hi")
    assert (await prism.embeddings.create(model="embed-small", input="x")).data


async def test_an_expired_key_is_refused_with_its_own_code(
    origin: RunningOrigin, pool: postgres.Pool
) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    key, _ = await limited_key(origin, pool, expires_at=past)
    with pytest.raises(openai.AuthenticationError) as refused:
        await client(origin, key).chat.completions.create(model="beta", messages=HELLO)
    assert refused.value.code == "key_expired" and "expired" in refused.value.message
    soon, record = await limited_key(origin, pool, expires_at=datetime.now(UTC) + timedelta(seconds=2))
    raw = await client(origin, soon).chat.completions.with_raw_response.create(model="beta", messages=HELLO)
    assert (await usage_row(origin, pool, raw.headers["x-prism-request-id"]))["key_id"] == uuid.UUID(
        record.key_id
    )
    await asyncio.sleep(2.1)
    with pytest.raises(openai.AuthenticationError):
        await client(origin, soon).chat.completions.create(model="beta", messages=HELLO)
