"""Policies, budgets and rate limits through a real origin (real Redis, real Postgres)."""

import asyncio
import collections
import contextlib
import gc
import subprocess
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import aiohttp
import openai
import pytest
from hypercorn.asyncio.tcp_server import TCPServer

from origin.controls.admission import worst_case_cents
from origin.settings import Settings
from origin.stores import controls, postgres
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, running_origin, stuck_tasks
from tests.origin.helpers import client, fresh_project, gateway_settings

HELLO = [{"role": "user", "content": "hello budget"}]


async def test_denied_model_is_403_naming_the_rule_and_auto_skips_it(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "limits-org")
    policy_id = await controls.add_policy(
        pool,
        org_id=record.org_id,
        project_id=record.project_id,
        effect="deny",
        target="model",
        pattern="alp*",
    )
    prism = client(origin, key)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await prism.chat.completions.create(model="alpha", messages=HELLO)
    assert caught.value.code == "policy_denied" and f"#{policy_id}" in caught.value.message
    raw = await prism.chat.completions.with_raw_response.create(
        model="auto", messages=HELLO
    )  # balanced: alpha, claude
    assert raw.headers["x-prism-model"] == "claude"
    assert fake.count("alpha") == 0

    await controls.add_policy(
        pool, org_id=record.org_id, project_id=None, effect="deny", target="provider", pattern="fakeant"
    )
    origin.state.controls.invalidate(record.org_id, record.project_id)
    with pytest.raises(openai.PermissionDeniedError, match="every candidate"):
        await prism.chat.completions.create(model="auto", messages=HELLO)


async def test_max_tokens_and_streaming_limits(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "limits-org")
    for target, max_tokens in (("max_tokens", 50), ("streaming", None)):
        await controls.add_policy(
            pool,
            org_id=record.org_id,
            project_id=record.project_id,
            effect="deny" if max_tokens is None else "limit",
            target=target,
            max_tokens=max_tokens,
        )
    prism = client(origin, key)
    with pytest.raises(openai.PermissionDeniedError, match="max_tokens 100"):
        await prism.chat.completions.create(model="beta", messages=HELLO, max_tokens=100)
    with pytest.raises(openai.PermissionDeniedError, match="stream"):
        await prism.chat.completions.create(model="beta", messages=HELLO, stream=True)
    await prism.chat.completions.create(model="beta", messages=HELLO)
    assert (
        fake.requests[-1].json is not None and fake.requests[-1].json["max_tokens"] == 50
    )  # the cap goes upstream


async def test_rate_limit_per_key_with_retry_after(origin: RunningOrigin, pool: postgres.Pool) -> None:
    key, record = await fresh_project(origin, pool, "limits-org")
    await controls.update_project_settings(pool, record.project_id, {"rpm_limit": 3})
    prism = client(origin, key)
    for _ in range(3):
        await prism.chat.completions.create(model="beta", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as caught:
        await prism.chat.completions.create(model="beta", messages=HELLO)
    assert caught.value.code == "rate_limited"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60


async def test_budget_exceeded_names_budget_and_spend(origin: RunningOrigin, pool: postgres.Pool) -> None:
    key, record = await fresh_project(origin, pool, "limits-org")
    body = {"messages": HELLO, "max_tokens": 1000}
    worst = worst_case_cents(body, (origin.state.config.models["beta"],))
    await controls.set_budget(pool, record.project_id, Decimal(str(worst * 1.5)))
    prism = client(origin, key)
    await prism.chat.completions.create(model="beta", messages=HELLO, max_tokens=1000)
    await origin.state.background.drain()
    await prism.chat.completions.create(
        model="beta", messages=HELLO, max_tokens=1000
    )  # the first settled low
    with pytest.raises(openai.RateLimitError) as caught:
        await asyncio.gather(
            *(prism.chat.completions.create(model="beta", messages=HELLO, max_tokens=1000) for _ in range(3))
        )
    assert caught.value.code == "budget_exceeded"
    assert (
        "Monthly budget for project limits-org/" in caught.value.message
        and "spent or reserved" in caught.value.message
    )


async def test_tag_budgets_apply_only_to_their_tag(origin: RunningOrigin, pool: postgres.Pool) -> None:
    key, record = await fresh_project(origin, pool, "limits-org")
    await controls.set_budget(pool, record.project_id, Decimal("0.000001"), tag=("feature", "onboarding"))
    with pytest.raises(openai.RateLimitError, match="tag feature=onboarding"):
        await client(origin, key, **{"X-Prism-Tags": "feature=onboarding"}).chat.completions.create(
            model="beta", messages=HELLO
        )
    await client(origin, key, **{"X-Prism-Tags": "feature=search"}).chat.completions.create(
        model="beta", messages=HELLO
    )


def _hypercorn_connections() -> str:
    """Every hypercorn connection still in the middle of a request: where h11 and the stream stand."""
    out = []
    for obj in gc.get_objects():
        if isinstance(obj, TCPServer) and obj.protocol is not None:
            inner = obj.protocol.protocol
            connection = getattr(inner, "connection", None)
            stream = getattr(inner, "stream", None)
            states = (connection.our_state, connection.their_state) if connection is not None else None
            if states is not None and str(states[1]) in ("CLOSED", "DONE"):
                continue
            peer = obj.writer.get_extra_info("peername")
            stream_state = f"{type(stream).__name__} {getattr(stream, 'state', '')}"
            out.append(f"{peer}: h11 {states}, {stream_state}, eof {obj.reader.at_eof()}")
    return "; ".join(out[:10])


def _loop_fds() -> str:
    """Open descriptors, and selector registrations whose descriptor no longer is what registered it."""
    import os

    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    stale = []
    for fd, key in selector.get_map().items():
        fileobj = key.fileobj
        fileno = fileobj if isinstance(fileobj, int) else getattr(fileobj, "fileno", lambda: -1)()
        if fileno != fd:
            stale.append((fd, fileno, type(fileobj).__name__))
    registered = set()
    for key in selector.get_map().values():
        with contextlib.suppress(AttributeError, OSError, IndexError, TypeError):
            registered.add((key.fileobj.getsockname()[1], key.fileobj.getpeername()[1], key.events))
    listing = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, check=False).stdout
    queued = []
    for row in listing.splitlines()[1:]:
        state, recv_q, _, local, peer = row.split()[:5]
        if state == "ESTAB" and recv_q != "0":
            pair = (int(local.rsplit(":", 1)[1]), int(peer.rsplit(":", 1)[1]))
            owner = row.split()[5] if len(row.split()) > 5 else "?"
            queued.append((pair, [e for (lp, pp, e) in registered if (lp, pp) == pair], owner, os.getpid()))
    fds = len(os.listdir("/proc/self/fd"))
    # A socket with bytes waiting that the loop does not watch: its reader was removed under it.
    return f"fds {fds}, registered {len(selector.get_map())}, stale {stale[:10]}, unwatched {queued[:12]}"


def _socket_states(urls: list[str]) -> str:
    """Each origin's sockets and its clients', with their queues, as ``ss`` reports them."""
    lines = []
    for url in urls:
        port = url.rsplit(":", 1)[1]
        for side in ("sport", "dport"):
            done = subprocess.run(
                ["ss", "-tan", f"( {side} = :{port} )"], capture_output=True, text=True, check=False
            )
            rows = [row.split() for row in done.stdout.splitlines()[1:]]
            states = collections.Counter(row[0] for row in rows)
            queued = [" ".join(row[:5]) for row in rows if row[1] != "0" or row[2] != "0"]
            lines.append(f"{side} {port}: {dict(states)} with queued bytes: {queued[:10]}")
    return " | ".join(lines)


async def test_two_hundred_concurrent_requests_two_instances_overshoot_at_most_one_worst_case(
    origin: RunningOrigin, pool: postgres.Pool, tmp_path: Path
) -> None:
    key, record = await fresh_project(origin, pool, "limits-org")
    body = {"messages": HELLO, "max_tokens": 2000}
    worst = worst_case_cents(body, (origin.state.config.models["beta"],))
    limit = worst * 10
    await controls.set_budget(pool, record.project_id, Decimal(repr(limit)))
    async with running_origin(replace(origin.state.settings, spool_dir=tmp_path / "spool2")) as second:
        urls = [origin.url, second.url]
        payload = {"model": "beta", "messages": HELLO, "max_tokens": 2000}
        headers = {"Authorization": f"Bearer {key}", "Cache-Control": "no-store"}
        # One plain HTTP session for the burst (the official client is exercised everywhere else);
        # a generous timeout, since 200 requests on two cores queue: this measures money, not speed.
        timeout = aiohttp.ClientTimeout(total=90)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout)

        async def one(index: int) -> str:
            url = urls[index % 2] + "/v1/chat/completions"
            tagged = {**headers, "X-Prism-Tags": f"burst={index}"}
            async with session.post(url, json=payload, headers=tagged) as response:
                answer = await response.json()
                return "ok" if response.status == 200 else str(answer["error"]["code"])

        try:
            burst = asyncio.gather(*(one(i) for i in range(200)), return_exceptions=True)
            done, _ = await asyncio.wait({burst}, timeout=60)
            idle = ("_server_callback", "_idle_timeout", "wait:45 > wait:213")  # hypercorn's, not requests
            waiting = (
                [] if done else [task for task in stuck_tasks() if not any(i in task for i in idle)][:30]
            )
            sockets = (
                "" if done else _socket_states(urls) + " " + _hypercorn_connections() + " " + _loop_fds()
            )
            results = await burst
        finally:
            await session.close()
        await second.state.background.drain()
        await second.state.writer.flush()
    await origin.state.background.drain()
    await origin.state.writer.flush()
    lost = {index: result for index, result in enumerate(results) if isinstance(result, BaseException)}
    if lost:  # say what was seen: did the origin answer (and record) the requests the client lost?
        rows = await pool.fetch(
            "SELECT request_tags->>'burst' AS burst, status_code, error_code, latency_ms FROM usage_logs "
            "WHERE project_id = $1 AND request_tags->>'burst' = ANY($2::text[])",
            record.project_id,
            [str(index) for index in lost],
        )
        recorded = {row["burst"]: dict(row) for row in rows}
        seen = {index: (repr(error)[:160], recorded.get(str(index))) for index, error in lost.items()}
        pytest.fail(
            f"{len(lost)} of 200 requests got no answer; (error, the origin's row) for each: {seen}; "
            f"what the loop was waiting on after 60 s: {waiting}; the origins' sockets: {sockets}"
        )
    outcomes = [str(result) for result in results]
    spent = await pool.fetchval(
        "SELECT coalesce(sum(cost_provider_cents), 0) FROM usage_logs WHERE project_id = $1",
        record.project_id,
    )
    assert outcomes.count("ok") >= 10 and outcomes.count("budget_exceeded") > 0
    assert set(outcomes) <= {"ok", "budget_exceeded"}
    assert float(spent) <= limit + worst


async def test_redis_down_fails_closed_for_budgets_but_serves_unbudgeted_projects(
    base_settings: Settings, fake_server: tuple[FakeProvider, str], pool: postgres.Pool, tmp_path: Path
) -> None:
    budgeted_key, budgeted = await postgres.create_key(
        pool, project=f"b-{uuid.uuid4().hex[:6]}", org="limits-org", pepper=base_settings.key_pepper
    )
    free_key, _ = await postgres.create_key(
        pool, project=f"f-{uuid.uuid4().hex[:6]}", org="limits-org", pepper=base_settings.key_pepper
    )
    await controls.set_budget(pool, budgeted.project_id, Decimal(100))
    settings = gateway_settings(base_settings, fake_server[1], tmp_path, redis_url="redis://127.0.0.1:1/0")
    async with running_origin(settings) as down:
        with pytest.raises(openai.InternalServerError) as caught:
            await client(down, budgeted_key).chat.completions.create(model="beta", messages=HELLO)
        assert caught.value.status_code == 503 and caught.value.code == "limits_unavailable"
        assert "Redis" in caught.value.message
        await client(down, free_key).chat.completions.create(model="beta", messages=HELLO)
