"""Prompt-prefix warm-ups through real origins: saved, listed and deleted over ``/v1/cache/warmups``,
run by whichever instance holds the Redis lease (and by another when it stops), counted when missed,
and what they are worth, measured with the fake's prefix cache on a hand-driven clock."""

import asyncio
import contextlib
import itertools
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from origin.chat.warmup import QUESTION
from origin.settings import Settings
from origin.stores import postgres
from tests.clock import Clock
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, running_origin
from tests.origin.helpers import client, fresh_project, gateway_settings, run_cli

SYSTEM = ("You are the support desk of a bicycle shop; quote the catalogue, answer briefly. " * 80)[:6000]
PREFIX_TOKENS = math.ceil(len(SYSTEM) / 4)
LEASE = "prism:lease:warmups"


@pytest.fixture(autouse=True)
async def no_warmups(pool: postgres.Pool, redis_client: "redis.Redis") -> AsyncIterator[None]:
    """Warm-ups live in Postgres across tests, and the lease in Redis: none is left for another
    test's origin to run, and no origin of an earlier test holds the lease."""
    await pool.execute("DELETE FROM prompt_warmups")
    yield
    await pool.execute("DELETE FROM prompt_warmups")
    await redis_client.delete(LEASE)


def _warmup(name: str = "support", system: str = SYSTEM, **fields: Any) -> dict[str, Any]:
    return {"name": name, "model": "claude", "messages": [{"role": "system", "content": system}], **fields}


async def _call(origin: RunningOrigin, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=origin.url, timeout=20) as http:
        return await http.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)


async def _listed(origin: RunningOrigin, key: str) -> list[dict[str, Any]]:
    response = await _call(origin, key, "GET", "/v1/cache/warmups")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def _warmup_rows(origin: RunningOrigin, pool: postgres.Pool, project_id: str) -> list[dict[str, Any]]:
    await origin.state.background.drain()
    await origin.state.writer.flush()
    records = await pool.fetch(
        "SELECT * FROM usage_logs WHERE project_id = $1 AND request_tags->>'prism' = 'warmup'"
        " ORDER BY created_at",
        project_id,
    )
    return [dict(record) for record in records]


def _sample(origin: RunningOrigin, name: str, labels: dict[str, str] | None = None) -> float:
    return origin.state.metrics.registry.get_sample_value(name, labels or {}) or 0.0


async def test_a_warmup_is_saved_run_under_its_key_and_deleted(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "warm-org")
    saved = await _call(origin, key, "POST", "/v1/cache/warmups", json=_warmup(every_seconds=60))
    assert saved.status_code == 200, saved.text
    assert {
        k: saved.json()[k] for k in ("name", "model", "every_seconds", "runs", "last_run_at", "overdue")
    } == {
        "name": "support",
        "model": "claude",
        "every_seconds": 60,
        "runs": 0,
        "last_run_at": None,
        "overdue": False,
    }

    assert await origin.state.warmups.tick() == 1
    assert await origin.state.warmups.tick() == 0  # not due again for a minute
    sent = fake.requests[-1].json
    assert sent is not None and sent["max_tokens"] == 1
    assert sent["system"][-1]["cache_control"] == {"type": "ephemeral"}  # the breakpoint traffic uses
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]
    (row,) = await _warmup_rows(origin, pool, record.project_id)
    assert (str(row["key_id"]), row["tokens_cache_write_5m"], row["request_tags"]) == (
        record.key_id,
        PREFIX_TOKENS,
        '{"prism": "warmup", "warmup": "support"}',
    )
    assert row["cost_total_cents"] > 0  # a warm-up is paid for, and counted, like any request
    (listed,) = await _listed(origin, key)
    assert (listed["runs"], listed["last_status"], listed["missed_runs"]) == (1, 200, 0)

    traffic = client(origin, key, **{"X-Prism-Memory": "off"})
    raw = await traffic.chat.completions.with_raw_response.create(
        model="claude",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hours?"}],
    )
    assert raw.parse().usage.prompt_tokens_details.cached_tokens == PREFIX_TOKENS  # warmed: read, not written

    assert (await _call(origin, key, "DELETE", "/v1/cache/warmups/support")).json()["deleted"] is True
    gone = await _call(origin, key, "DELETE", "/v1/cache/warmups/support")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "warmup_not_found")
    assert await _listed(origin, key) == []


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (_warmup(name="no spaces"), "name", "invalid_request"),
        (_warmup(every_seconds=0), "every_seconds", "invalid_request"),
        (_warmup(every_seconds=True), "every_seconds", "invalid_request"),
        (_warmup(model="nope"), "model", "invalid_request"),
        ({**_warmup(), "messages": [{"role": "user", "content": SYSTEM}]}, "messages", "invalid_request"),
        ({**_warmup(), "messages": []}, "messages", "invalid_request"),
        (_warmup(system="Be brief."), "messages", "prefix_too_short"),
        (_warmup(stream=True), "stream", "invalid_request"),
        ([1, 2], None, "invalid_body"),
    ],
)
async def test_unfit_warmups_are_refused(
    origin: RunningOrigin, api_key: str, body: Any, param: str | None, code: str
) -> None:
    response = await _call(origin, api_key, "POST", "/v1/cache/warmups", json=body)
    error = response.json()["error"]
    assert (response.status_code, error["code"], error.get("param")) == (400, code, param), error
    assert await _listed(origin, api_key) == []


async def test_warmups_need_a_key(origin: RunningOrigin) -> None:
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.get("/v1/cache/warmups")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "missing_api_key")


async def test_a_missed_run_is_counted_and_shown_until_the_warmup_runs_again(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "warm-org")
    assert (await _call(origin, key, "POST", "/v1/cache/warmups", json=_warmup(every_seconds=60))).is_success
    await origin.state.warmups.tick()
    await pool.execute(  # as if no instance had held the lease for ten minutes
        "UPDATE prompt_warmups SET last_run_at = now() - interval '10 minutes' WHERE project_id = $1",
        record.project_id,
    )
    assert [warmup["overdue"] for warmup in await _listed(origin, key)] == [True]
    missed_before = _sample(origin, "prism_warmup_missed_runs_total")
    # An instance that does not hold the lease sees it late too.
    assert "prism_warmups_overdue 1.0" in await _metrics_after_tick_without_lease(origin)

    assert await origin.state.warmups.tick() == 1
    (listed,) = await _listed(origin, key)
    assert (listed["runs"], listed["missed_runs"], listed["overdue"]) == (2, 9, False)
    assert _sample(origin, "prism_warmup_missed_runs_total") - missed_before == 9
    await origin.state.warmups.tick()
    assert _sample(origin, "prism_warmups_overdue") == 0

    report = (await _call(origin, key, "GET", "/v1/usage/provider-cache")).json()
    assert [(w["name"], w["missed_runs"], w["overdue"]) for w in report["warmups"]] == [("support", 9, False)]
    scope = ("--org", record.org_name, "--project", record.project_name)
    printed = await asyncio.to_thread(run_cli, origin.state.settings, "cache", "warmups", *scope)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["data"] == await _listed(origin, key)


async def _metrics_after_tick_without_lease(origin: RunningOrigin) -> str:
    await origin.state.redis.set(LEASE, "someone else", px=5000)
    try:
        assert await origin.state.warmups.tick() == 0
        assert _sample(origin, "prism_warmup_leader") == 0
        async with httpx.AsyncClient(base_url=origin.url) as http:
            return (await http.get("/metrics")).text
    finally:
        await origin.state.redis.delete(LEASE)


async def test_a_revoked_key_makes_its_warmups_fail_visibly(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "warm-org")
    assert (await _call(origin, key, "POST", "/v1/cache/warmups", json=_warmup())).is_success
    await postgres.revoke_keys(pool, record.prefix)
    failed = _sample(origin, "prism_warmup_runs_total", {"outcome": "failed"})
    assert await origin.state.warmups.tick() == 1
    assert _sample(origin, "prism_warmup_runs_total", {"outcome": "failed"}) == failed + 1
    (row,) = await pool.fetch(
        "SELECT last_status FROM prompt_warmups WHERE project_id = $1", record.project_id
    )
    assert row["last_status"] == 401
    assert await _warmup_rows(origin, pool, record.project_id) == []  # nothing was sent upstream


def _ticking(base: Settings, fake_url: str, directory: Path) -> Settings:
    directory.mkdir()
    return gateway_settings(base, fake_url, directory, warmup_tick_seconds=0.2, warmup_lease_seconds=1.0)


async def test_the_run_moves_to_another_instance_when_the_holder_stops(
    base_settings: Settings,
    migrated: str,
    pool: postgres.Pool,
    fake_server: tuple[FakeProvider, str],
    tmp_path: Path,
) -> None:
    """Blue and green both up, one runs the warm-ups; it stops and the other carries on: no run is
    missed and none is doubled."""
    fake, url = fake_server
    fake.reset()
    stacks = {colour: contextlib.AsyncExitStack() for colour in ("blue", "green")}
    try:
        running = {
            colour: await stack.enter_async_context(
                running_origin(_ticking(base_settings, url, tmp_path / colour))
            )
            for colour, stack in stacks.items()
        }
        key, record = await fresh_project(running["blue"], pool, "warm-org")
        saved = await _call(running["blue"], key, "POST", "/v1/cache/warmups", json=_warmup(every_seconds=2))
        assert saved.is_success, saved.text
        await asyncio.sleep(4.5)
        leaders = {colour: _sample(origin, "prism_warmup_leader") for colour, origin in running.items()}
        assert sorted(leaders.values()) == [0, 1], leaders
        holder = max(leaders, key=leaders.__getitem__)
        other = running["green" if holder == "blue" else "blue"]
        await stacks.pop(holder).aclose()
        runs_before = await pool.fetchval(
            "SELECT runs FROM prompt_warmups WHERE project_id = $1", record.project_id
        )
        await asyncio.sleep(4.5)
        assert _sample(other, "prism_warmup_leader") == 1
        warmup = await pool.fetchrow("SELECT * FROM prompt_warmups WHERE project_id = $1", record.project_id)
        rows = await _warmup_rows(other, pool, record.project_id)
    finally:
        for stack in stacks.values():
            await stack.aclose()
    assert warmup is not None and warmup["runs"] > runs_before >= 2
    assert warmup["missed_runs"] == 0
    assert len(rows) == warmup["runs"]  # one row per run: never two instances at once
    gaps = [
        (later["created_at"] - first["created_at"]).total_seconds()
        for first, later in itertools.pairwise(rows)
    ]
    assert min(gaps) >= 1.9, gaps


async def test_a_warmup_keeps_an_idle_prefix_cached_and_what_that_is_worth(
    base_settings: Settings, migrated: str, pool: postgres.Pool, tmp_path: Path
) -> None:
    """Two projects, one turn each, eight idle minutes, another turn: past the provider's five-minute
    lifetime the second turn is cold unless a warm-up refreshed the prefix in between."""
    clock = Clock()
    fake = FakeProvider(seed=3, clock=clock)
    url = await fake.start()
    try:
        async with running_origin(gateway_settings(base_settings, url, tmp_path)) as origin:
            measured = {}
            for warmed in (False, True):
                key, record = await fresh_project(origin, pool, "warm-org")
                system = f"{'Warmed' if warmed else 'Idle'} desk. {SYSTEM}"
                if warmed:
                    saved = await _call(origin, key, "POST", "/v1/cache/warmups", json=_warmup(system=system))
                    assert saved.is_success, saved.text
                    await pool.execute(  # it ran as the first turn did, so it is due four minutes later
                        "UPDATE prompt_warmups SET last_run_at = now() - interval '4 minutes'"
                        " WHERE project_id = $1",
                        record.project_id,
                    )
                turns = client(origin, key, **{"X-Prism-Memory": "off"})
                shares, start = [], clock.now
                for minute in (0, 8):
                    clock.now = start + 60 * minute
                    if warmed and minute == 8:
                        clock.now = start + 240
                        assert await origin.state.warmups.tick() == 1
                        clock.now = start + 480
                    answer = await turns.chat.completions.create(
                        model="claude",
                        messages=[
                            {"role": "system", "content": system},
                            {"role": "user", "content": f"q{minute}"},
                        ],
                    )
                    assert answer.usage is not None and answer.usage.prompt_tokens_details is not None
                    shares.append(
                        (answer.usage.prompt_tokens_details.cached_tokens or 0) / answer.usage.prompt_tokens
                    )
                await origin.state.writer.flush()
                cents = await pool.fetchval(
                    "SELECT sum(cost_total_cents) FROM usage_logs WHERE project_id = $1", record.project_id
                )
                measured[warmed] = (shares, float(cents))
    finally:
        await fake.stop()
    (cold_shares, cold_cents), (warm_shares, warm_cents) = measured[False], measured[True]
    print(
        f"\nidle 8 min between turns: without a warm-up the 2nd turn's cached share is {cold_shares[1]:.0%},"
        f" {cold_cents:.4f} cents in all; with one (run at 4 min) {warm_shares[1]:.0%},"
        f" {warm_cents:.4f} cents including the warm-up"
    )
    assert cold_shares == [0.0, 0.0]
    assert warm_shares[0] == 0.0 and warm_shares[1] > 0.9
