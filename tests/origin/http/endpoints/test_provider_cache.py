"""The provider's prompt cache through a real origin and the fake's real prefix cache: what Prism sends
to help it, and rows that record exactly what was read and written, priced exactly once.

The fake counts a token per four characters of prompt text, so a system prompt of 6,000 characters
is a prefix of 1,500 tokens. Each test prints the cached share and the cost with and without the aid.
"""

import asyncio
from typing import Any

import openai
import pytest

from origin.stores import controls, postgres
from tests.fakes.behaviour import Behaviour, count_tokens
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, fresh_project, usage_row

SYSTEM = ("You are the support assistant of a bicycle shop; answer from the catalogue. " * 80)[:6000]
PREFIX_TOKENS = 1500
CLAUDE = {"input": 3.0, "cached_input": 0.3, "cache_write": 3.75, "output": 15.0}  # the harness's prices
BETA_INPUT, BETA_OUTPUT = 0.5, 1.0


def _question(turn: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"question {turn}: a bell?"}]


def _claude_cents(row: dict[str, Any]) -> float:
    fresh = row["tokens_in"] - row["tokens_cached_in"] - row["tokens_cache_write_5m"]
    dollars: float = (
        fresh * CLAUDE["input"]
        + row["tokens_cached_in"] * CLAUDE["cached_input"]
        + row["tokens_cache_write_5m"] * CLAUDE["cache_write"]
        + row["tokens_out"] * CLAUDE["output"]
    ) / 1_000_000
    return dollars * 100


async def _claude_turns(
    origin: RunningOrigin, pool: postgres.Pool, key: str, turns: int, *, stream: bool = False
) -> list[dict[str, Any]]:
    prism = client(origin, key)
    rows = []
    for turn in range(turns):
        if stream:
            chunks = await prism.chat.completions.create(
                model="claude", messages=_question(turn), stream=True, stream_options={"include_usage": True}
            )
            request_id = chunks.response.headers["x-prism-request-id"]
            async for _ in chunks:
                pass
        else:
            raw = await prism.chat.completions.with_raw_response.create(
                model="claude", messages=_question(turn)
            )
            request_id = raw.headers["x-prism-request-id"]
        rows.append(await usage_row(origin, pool, request_id))
    return rows


def _report(label: str, rows: list[dict[str, Any]], cents: float) -> None:
    cached = sum(row["tokens_cached_in"] for row in rows)
    prompt = sum(row["tokens_in"] for row in rows)
    print(f"{label}: cached share {cached / prompt:.0%} of {prompt} prompt tokens, {cents:.4f} cents")


@pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])
async def test_anthropic_breakpoints_make_the_system_prompt_a_write_then_reads(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider, stream: bool
) -> None:
    key, _ = await fresh_project(origin, pool, "pcache-org")
    rows = await _claude_turns(origin, pool, key, 3, stream=stream)

    sent = fake.requests[0].json
    assert sent is not None
    assert sent["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert all("cache_control" not in str(turn) for turn in sent["messages"])
    question_tokens = count_tokens("question 0: a bell?")
    assert [(row["tokens_cache_write_5m"], row["tokens_cached_in"]) for row in rows] == [
        (PREFIX_TOKENS, 0),
        (0, PREFIX_TOKENS),
        (0, PREFIX_TOKENS),
    ]
    assert [row["tokens_in"] for row in rows] == [PREFIX_TOKENS + question_tokens] * 3
    assert all(row["tokens_cache_write_1h"] == 0 for row in rows)
    assert all(row["model_version"] == "claude-up-1" for row in rows)  # Anthropic's dated model id
    for row in rows:
        assert float(row["cost_provider_cents"]) == pytest.approx(_claude_cents(row), abs=1e-9)

    off_key, off = await fresh_project(origin, pool, "pcache-org")
    await controls.update_project_settings(pool, off.project_id, {"cache_breakpoints": False})
    fake.flush_prompt_cache()
    plain = await _claude_turns(origin, pool, off_key, 3, stream=stream)
    sent = fake.requests[-1].json
    assert sent is not None and sent["system"] == SYSTEM
    assert all(row["tokens_cached_in"] == row["tokens_cache_write_5m"] == 0 for row in plain)
    helped, unhelped = sum(map(_claude_cents, rows)), sum(map(_claude_cents, plain))
    assert helped < unhelped
    _report("anthropic with breakpoints", rows, helped)
    _report("anthropic without", plain, unhelped)


async def test_a_prefix_under_the_models_minimum_gets_no_breakpoint(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, _ = await fresh_project(origin, pool, "pcache-org")
    short = [{"role": "system", "content": SYSTEM[:4000]}, {"role": "user", "content": "hi"}]  # 1,000 tokens
    await client(origin, key).chat.completions.create(model="claude", messages=short)
    sent = fake.requests[-1].json
    assert sent is not None and sent["system"] == SYSTEM[:4000]


async def test_a_stream_cut_midway_keeps_the_cache_counts_it_was_told(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, _ = await fresh_project(origin, pool, "pcache-org")
    fake.configure("claude-up", Behaviour(cut_after_chunks=1, reply="one two three four"))
    chunks = await client(origin, key).chat.completions.create(
        model="claude", messages=_question(0), stream=True
    )
    request_id = chunks.response.headers["x-prism-request-id"]
    with pytest.raises(openai.APIError):
        async for _ in chunks:
            pass
    row = await usage_row(origin, pool, request_id)
    assert not row["success"]
    assert (row["tokens_cache_write_5m"], row["tokens_cached_in"]) == (PREFIX_TOKENS, 0)
    assert float(row["cost_provider_cents"]) == pytest.approx(_claude_cents(row), abs=1e-9)


async def _beta_turns(
    origin: RunningOrigin, pool: postgres.Pool, key: str, turns: int
) -> list[dict[str, Any]]:
    # Memory off: each turn is the system prompt and one question, so the shared prefix stays 1,500 tokens.
    prism = client(origin, key, **{"X-Prism-Session": "long-session", "X-Prism-Memory": "off"})
    rows = []
    for turn in range(turns):
        raw = await prism.chat.completions.with_raw_response.create(model="beta", messages=_question(turn))
        rows.append(await usage_row(origin, pool, raw.headers["x-prism-request-id"]))
    return rows


async def test_openai_session_turns_reach_the_pod_holding_their_prefix(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    """Four pods and no key: turns land where the prefix is not; the session's key keeps them together."""
    key, _ = await fresh_project(origin, pool, "pcache-org")
    keyed = await _beta_turns(origin, pool, key, 8)
    readable = (PREFIX_TOKENS - 1024) // 128 * 128 + 1024  # OpenAI caches in 128-token steps from 1,024
    assert [row["tokens_cached_in"] for row in keyed] == [0] + [readable] * 7

    off_key, off = await fresh_project(origin, pool, "pcache-org")
    await controls.update_project_settings(pool, off.project_id, {"prompt_cache_key": False})
    fake.flush_prompt_cache()
    spread = await _beta_turns(origin, pool, off_key, 8)
    cold_turns = sum(row["tokens_cached_in"] == 0 for row in spread[1:])
    assert cold_turns >= 1
    assert all(row["tokens_cached_in"] in (0, readable) for row in spread)

    def cents(rows: list[dict[str, Any]]) -> float:
        for row in rows:
            fresh = row["tokens_in"] - row["tokens_cached_in"]
            # beta has no cached price: a cached token costs the input price, so the money is in latency
            assert float(row["cost_provider_cents"]) == pytest.approx(
                (fresh * BETA_INPUT + row["tokens_cached_in"] * BETA_INPUT + row["tokens_out"] * BETA_OUTPUT)
                / 10_000,
                abs=1e-9,
            )
        return sum(float(row["cost_provider_cents"]) for row in rows)

    _report("openai with the session's key", keyed, cents(keyed))
    _report(f"openai without ({cold_turns} of 7 later turns cold)", spread, cents(spread))


async def _together(
    origin: RunningOrigin, pool: postgres.Pool, key: str, count: int, *, stream: bool
) -> list[dict[str, Any]]:
    prism = client(origin, key)

    async def ask(turn: int) -> dict[str, Any]:
        raw = await prism.chat.completions.with_raw_response.create(
            model="claude", messages=_question(turn), stream=stream
        )
        if stream:
            async for _ in raw.parse():
                pass
        return await usage_row(origin, pool, raw.headers["x-prism-request-id"])

    return list(await asyncio.gather(*(ask(turn) for turn in range(count))))


@pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])
async def test_concurrent_requests_on_a_cold_prefix_pay_its_write_once(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider, stream: bool
) -> None:
    """The fake takes 200 ms to read a prompt; a prefix is readable only after that."""
    fake.configure("claude-up", Behaviour(latency_ms=200))
    key, _ = await fresh_project(origin, pool, "pcache-org")
    guarded = await _together(origin, pool, key, 6, stream=stream)
    writes = [row["tokens_cache_write_5m"] for row in guarded]
    assert sorted(writes) == [0] * 5 + [PREFIX_TOKENS]
    assert sorted(row["tokens_cached_in"] for row in guarded) == [0] + [PREFIX_TOKENS] * 5

    off_key, off = await fresh_project(origin, pool, "pcache-org")
    await controls.update_project_settings(pool, off.project_id, {"prefix_flight": False})
    fake.flush_prompt_cache()
    stampede = await _together(origin, pool, off_key, 6, stream=stream)
    assert [row["tokens_cache_write_5m"] for row in stampede] == [PREFIX_TOKENS] * 6
    helped, unhelped = sum(map(_claude_cents, guarded)), sum(map(_claude_cents, stampede))
    assert helped < unhelped
    _report("anthropic, 6 at once, prefix single-flight", guarded, helped)
    _report("anthropic, 6 at once, without", stampede, unhelped)
