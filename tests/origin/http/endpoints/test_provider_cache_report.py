"""``GET /v1/usage/provider-cache`` and ``prism cache report`` over rows that real traffic through the
fake's prefix cache left: cold turns, long sessions, per-user prefixes and stampedes, priced exactly."""

import asyncio
import json
import math
from typing import Any

import httpx
import pytest

from origin.stores import controls, postgres
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, fresh_project, run_cli, usage_row

SYSTEM = (
    "Answer from the bicycle shop's catalogue, politely and briefly, in the customer's language. " * 70
)[:6000]
READ_SAVING = 3.0 - 0.3  # the harness's claude: input and cached_input, dollars per million tokens
WRITE_PREMIUM = 3.75 - 0.3  # cache_write against cached_input


async def _report(origin: RunningOrigin, key: str) -> dict[str, Any]:
    await origin.state.background.drain()  # the prefix survey runs once a request is settled
    await origin.state.writer.flush()
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.get("/v1/usage/provider-cache", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _turn(
    origin: RunningOrigin, pool: postgres.Pool, key: str, model: str, system: str, session: str, turn: int
) -> dict[str, Any]:
    prism = client(origin, key, **{"X-Prism-Session": session, "X-Prism-Memory": "off"})
    messages = [{"role": "system", "content": system}, {"role": "user", "content": f"{session} asks {turn}"}]
    raw = await prism.chat.completions.with_raw_response.create(model=model, messages=messages)
    return await usage_row(origin, pool, raw.headers["x-prism-request-id"])


async def test_cold_turns_of_a_long_session_are_counted_beside_the_overall_share(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    """No prompt_cache_key: OpenAI-kind turns land on any of four pods, so some go cold."""
    key, record = await fresh_project(origin, pool, "pcr-org")
    await controls.update_project_settings(pool, record.project_id, {"prompt_cache_key": False})
    long = [await _turn(origin, pool, key, "beta", SYSTEM, "long", turn) for turn in range(6)]
    short = [await _turn(origin, pool, key, "beta", SYSTEM, "short", turn) for turn in range(2)]
    report = await _report(origin, key)

    cold = sum(row["tokens_cached_in"] == 0 for row in long[1:])
    assert cold >= 1
    sessions = report["sessions"]
    assert (sessions["count"], sessions["long_sessions"]) == (2, 1)
    assert sessions["long_session_cold_turns"] == cold
    assert sessions["cold_turns"] == cold + (short[1]["tokens_cached_in"] == 0)
    assert sessions["worst"][0]["session_id"] == "long"
    assert sessions["worst"][0]["cached_share_per_turn"] == [
        row["tokens_cached_in"] / row["tokens_in"] for row in long
    ]
    rows = long + short
    assert report["cached_share"] == sum(r["tokens_cached_in"] for r in rows) / sum(
        r["tokens_in"] for r in rows
    )
    assert report["prefixes"]["distinct"] == 1 and not report["prefixes"]["per_user"]

    keyed, _ = await fresh_project(origin, pool, "pcr-org")
    for turn in range(6):
        await _turn(origin, pool, keyed, "beta", SYSTEM, "long", turn)
    assert (await _report(origin, keyed))["sessions"]["cold_turns"] == 0  # the session's key: one pod


async def test_a_prefix_per_user_is_said_and_priced(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "pcr-org")
    users = ["ada", "grace", "linus", "barbara"]
    template = "Escalate refunds to help@bikes.example. The customer is "
    personal = {user: f"{template}{user}. {SYSTEM}" for user in users}
    for user in users:
        for turn in range(2):
            await _turn(origin, pool, key, "claude", personal[user], user, turn)
    prefixes = (await _report(origin, key))["prefixes"]

    assert (prefixes["distinct"], prefixes["requests"], prefixes["per_user"]) == (4, 8, True)
    assert [prefix["share_of_traffic"] for prefix in prefixes["busiest"]] == [0.25] * 4
    tokens = sum(math.ceil(len(text) / 4) for text in personal.values())
    assert prefixes["per_user_lost_cents"] == pytest.approx(tokens * READ_SAVING / 10_000 * 3 / 4, abs=1e-9)
    assert prefixes["diverge"] == [  # the first user's prefix is the reference; the three others part
        {
            "project_id": record.project_id,
            "at_token": math.ceil(len(template) / 4),
            "excerpt": "Escalate refunds to [email]. The customer is ⟨differs⟩",
            "prefixes": 3,
        }
    ]
    scope = ("--org", record.org_name, "--project", record.project_name)
    table = await asyncio.to_thread(run_cli, origin.state.settings, "cache", "report", *scope)
    assert table.returncode == 0, table.stderr
    assert (
        f"  3 prefixes of {record.project_id} part at token {math.ceil(len(template) / 4)}:"
        " Escalate refunds to [email]. The customer is ⟨differs⟩"
    ) in table.stdout.splitlines()

    shared, _ = await fresh_project(origin, pool, "pcr-org")
    for user in users:
        await _turn(origin, pool, shared, "claude", SYSTEM, user, 0)
    prefixes = (await _report(origin, shared))["prefixes"]
    assert (prefixes["distinct"], prefixes["per_user"], prefixes["per_user_lost_cents"]) == (1, False, 0.0)
    assert prefixes["diverge"] == []


async def _stampede(origin: RunningOrigin, pool: postgres.Pool, key: str) -> list[dict[str, Any]]:
    prism = client(origin, key)
    messages = [
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"q{n}"}] for n in range(6)
    ]
    answers = await asyncio.gather(
        *(prism.chat.completions.with_raw_response.create(model="claude", messages=m) for m in messages)
    )
    return [await usage_row(origin, pool, raw.headers["x-prism-request-id"]) for raw in answers]


async def test_a_stampede_on_a_cold_prefix_is_found_and_its_extra_writes_priced(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    fake.configure("claude-up", Behaviour(latency_ms=200))
    key, record = await fresh_project(origin, pool, "pcr-org")
    await controls.update_project_settings(pool, record.project_id, {"prefix_flight": False})
    rows = await _stampede(origin, pool, key)
    stampedes = (await _report(origin, key))["stampedes"]

    written = [row["tokens_cache_write_5m"] for row in rows]
    assert written == [1500] * 6
    assert (stampedes["count"], stampedes["requests"]) == (1, 6)
    assert stampedes["worst"][0]["extra_writes"] == 5
    assert stampedes["extra_cents"] == pytest.approx(sum(written) * WRITE_PREMIUM / 10_000 * 5 / 6, abs=1e-9)

    guarded, _ = await fresh_project(origin, pool, "pcr-org")
    fake.flush_prompt_cache()
    await _stampede(origin, pool, guarded)
    assert (await _report(origin, guarded))["stampedes"]["count"] == 0  # prefix single-flight: one write


async def test_a_new_model_version_is_recorded_and_the_drop_after_it_flagged(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, _ = await fresh_project(origin, pool, "pcr-org")
    before = [await _turn(origin, pool, key, "claude", SYSTEM, "versions", turn) for turn in range(3)]
    fake.configure("claude-up", Behaviour(model_version="2"))  # a new snapshot: its cache starts empty
    after = [await _turn(origin, pool, key, "claude", SYSTEM, "versions", turn) for turn in range(3, 5)]
    changes = (await _report(origin, key))["changes"]

    assert [row["model_version"] for row in before + after] == ["claude-up-1"] * 3 + ["claude-up-2"] * 2
    assert [row["tokens_cached_in"] for row in after] == [0, 1500]  # cold once, then warm again
    assert len(changes) == 1
    change = changes[0]
    assert (change["model"], change["from"], change["to"], change["dropped"]) == (
        "claude",
        "claude-up-1",
        "claude-up-2",
        True,
    )
    share = [
        sum(r["tokens_cached_in"] for r in rows) / sum(r["tokens_in"] for r in rows)
        for rows in (before, after)
    ]
    assert (change["cached_share_before"], change["cached_share_after"]) == pytest.approx(share)


async def test_openai_rows_carry_the_system_fingerprint(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, _ = await fresh_project(origin, pool, "pcr-org")
    fake.configure("beta", Behaviour(model_version="2026-11"))
    row = await _turn(origin, pool, key, "beta", "short", "fp", 0)
    assert row["model_version"] == "fp_fake_2026-11"
    chunks = await client(origin, key).chat.completions.create(
        model="beta", messages=[{"role": "user", "content": "streamed"}], stream=True
    )
    request_id = chunks.response.headers["x-prism-request-id"]
    async for _ in chunks:
        pass
    assert (await usage_row(origin, pool, request_id))["model_version"] == "fp_fake_2026-11"


async def test_the_cli_prints_the_apis_body_and_a_table(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "pcr-org")
    for turn in range(2):
        await _turn(origin, pool, key, "claude", SYSTEM, "cli-session", turn)
    body = await _report(origin, key)
    scope = ("--org", record.org_name, "--project", record.project_name)

    printed = await asyncio.to_thread(
        run_cli, origin.state.settings, "cache", "report", *scope, "--format", "json"
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == body
    table = await asyncio.to_thread(run_cli, origin.state.settings, "cache", "report", *scope)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("requests 2  cached share 50%")
    assert lines[1].startswith("sessions 1  cold turns 0")
    assert "prefixes 1 distinct over 2 requests" in lines


async def _prompt_tokens(origin: RunningOrigin) -> dict[str, float]:
    registry = origin.state.metrics.registry
    return {
        kind: registry.get_sample_value(
            "prism_provider_cache_tokens_total", {"model": "claude", "kind": kind}
        )
        or 0.0
        for kind in ("read", "write_5m", "write_1h", "fresh")
    }


async def test_metrics_count_prompt_tokens_by_what_the_cache_did(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, _ = await fresh_project(origin, pool, "pcr-org")
    before = await _prompt_tokens(origin)
    rows = [await _turn(origin, pool, key, "claude", SYSTEM, "metered", turn) for turn in range(2)]
    after = await _prompt_tokens(origin)
    async with httpx.AsyncClient(base_url=origin.url) as http:
        exposed = (await http.get("/metrics")).text

    fresh = sum(row["tokens_in"] for row in rows) - 3000
    assert {kind: after[kind] - before[kind] for kind in after} == {
        "read": 1500,
        "write_5m": 1500,
        "write_1h": 0,
        "fresh": fresh,
    }
    assert 'prism_provider_cache_tokens_total{kind="read",model="claude"}' in exposed
