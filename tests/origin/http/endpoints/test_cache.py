"""The exact cache through a real origin: hits, replayed streams, directives, isolation, single-flight."""

import asyncio
import json
import uuid
from dataclasses import replace
from pathlib import Path

import aiohttp
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from origin.cache.exact import CacheEntry, entry_key
from origin.providers.base import Usage
from origin.settings import Settings
from origin.stores import postgres
from shared.fingerprint import fingerprint
from shared.keys import key_hash
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, running_origin
from tests.origin.helpers import client, gateway_settings, usage_row

QUESTION = [{"role": "user", "content": "what is the capital of France"}]


async def test_second_identical_request_is_a_hit_with_its_own_attribution(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider
) -> None:
    first = await client(
        origin, api_key, cache=True, **{"X-Prism-Tags": "feature=a"}
    ).chat.completions.with_raw_response.create(model="alpha", messages=QUESTION)
    second = await client(
        origin,
        api_key,
        cache=True,
        **{"X-Prism-Tags": "feature=b", "X-Prism-Session": "other-conv", "X-Prism-Memory": "off"},
    ).chat.completions.with_raw_response.create(model="alpha", messages=QUESTION)
    assert (first.headers["x-prism-cache"], second.headers["x-prism-cache"]) == ("miss", "hit-exact")
    assert fake.count("alpha") == 1
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert second.parse().id != first.parse().id

    miss_row = await usage_row(origin, pool, first.headers["x-prism-request-id"])
    hit_row = await usage_row(origin, pool, second.headers["x-prism-request-id"])
    assert hit_row["cache_status"] == "hit-exact" and hit_row["provider"] == "cache"
    assert float(hit_row["cost_provider_cents"]) == 0
    assert float(hit_row["cache_saved_cents"]) == pytest.approx(float(miss_row["cost_provider_cents"]))
    assert json.loads(hit_row["request_tags"]) == {"feature": "b"} and hit_row["session_id"] == "other-conv"
    assert hit_row["model_used"] == "alpha"


async def test_streamed_miss_is_stored_and_replayed_as_sse(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, cache=True)
    stream = await prism.chat.completions.create(model="alpha", messages=QUESTION, stream=True)
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    await asyncio.sleep(0.05)

    raw = await prism.chat.completions.with_raw_response.create(
        model="alpha", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["x-prism-cache"] == "hit-exact" and raw.headers["content-type"].startswith(
        "text/event-stream"
    )
    chunks = [chunk async for chunk in raw.parse()]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == streamed
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"

    plain = await prism.chat.completions.with_raw_response.create(model="alpha", messages=QUESTION)
    assert (
        plain.headers["x-prism-cache"] == "hit-exact" and plain.parse().choices[0].message.content == streamed
    )
    assert fake.count("alpha") == 1


async def test_directives_no_store_no_cache_and_ttl(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, cache=True)

    async def ask(**headers: str) -> str:
        raw = await prism.chat.completions.with_raw_response.create(
            model="beta", messages=QUESTION, extra_headers=headers
        )
        return str(raw.headers["x-prism-cache"])

    assert await ask(**{"Cache-Control": "no-store"}) == "bypass"
    assert await ask() == "miss"  # no-store wrote nothing
    assert await ask() == "hit-exact"
    assert await ask(**{"Cache-Control": "no-cache"}) == "miss"  # skips the read, refreshes the entry
    assert fake.count("beta") == 3
    assert await ask(**{"Cache-Control": "no-store"}) == "bypass"
    assert fake.count("beta") == 4

    other = [{"role": "user", "content": "short lived"}]
    await prism.chat.completions.create(
        model="beta", messages=other, extra_headers={"X-Prism-Cache-TTL": "1"}
    )
    assert await origin.state.redis.ttl(entry_key(_fp(origin, api_key, "beta", other))) in (0, 1)

    with pytest.raises(openai.BadRequestError, match="X-Prism-Cache-TTL"):
        await prism.chat.completions.create(
            model="beta", messages=QUESTION, extra_headers={"X-Prism-Cache-TTL": "soon"}
        )


def _fp(origin: RunningOrigin, key: str, model: str, messages: list[dict[str, str]]) -> str:
    return fingerprint(_project_of(origin, key), {"model": model, "messages": messages})


def _project_of(origin: RunningOrigin, key: str) -> str:
    record = origin.state.auth._local[key_hash(key, origin.state.settings.key_pepper)][1]
    assert record is not None, "call after a request with this key"
    return record.project_id


async def test_errors_and_cut_streams_are_not_stored(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, cache=True)
    fake.configure("lonely", Behaviour(fail_times=2, fail_status=500))
    with pytest.raises(openai.InternalServerError):
        await prism.chat.completions.create(model="lonely", messages=QUESTION)
    raw = await prism.chat.completions.with_raw_response.create(model="lonely", messages=QUESTION)
    assert raw.headers["x-prism-cache"] == "miss"

    cut = [{"role": "user", "content": "a b c d e f g h"}]
    fake.configure("lonely", Behaviour(cut_after_chunks=2))
    with pytest.raises(openai.APIError):
        async for _ in await prism.chat.completions.create(model="lonely", messages=cut, stream=True):
            pass
    fake.configure("lonely", Behaviour())
    again = await prism.chat.completions.with_raw_response.create(model="lonely", messages=cut)
    assert again.headers["x-prism-cache"] == "miss"


async def test_n_choices_are_stored_as_a_set(origin: RunningOrigin, api_key: str, fake: FakeProvider) -> None:
    prism = client(origin, api_key, cache=True)
    first = await prism.chat.completions.create(model="beta", messages=QUESTION, n=2)
    raw = await prism.chat.completions.with_raw_response.create(model="beta", messages=QUESTION, n=2)
    assert raw.headers["x-prism-cache"] == "hit-exact"
    assert [c.message.content for c in raw.parse().choices] == [c.message.content for c in first.choices]
    assert len(first.choices) == 2


async def test_entries_of_an_old_alias_target_are_not_served(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, cache=True)
    await prism.chat.completions.create(
        model="beta", messages=[{"role": "user", "content": "warm the key cache"}]
    )
    fp = _fp(origin, api_key, "fast", QUESTION)
    stale = CacheEntry.build(
        {"id": "x", "object": "chat.completion", "created": 1, "model": "alpha", "choices": []},
        model="alpha",
        provider="fakeoai",
        route_head="alpha",  # written when "fast" still pointed at alpha
        usage=Usage(tokens_in=1, tokens_out=1),
        cost_cents=0.1,
    )
    await origin.state.pipeline._cache.put(fp, stale, 60)
    raw = await prism.chat.completions.with_raw_response.create(model="fast", messages=QUESTION)
    assert raw.headers["x-prism-cache"] == "miss" and raw.headers["x-prism-model"] == "beta"


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(min_size=1, max_size=40), stream=st.booleans())
async def test_no_cross_project_hits(
    origin: RunningOrigin, pool: postgres.Pool, fake_server: tuple[FakeProvider, str], text: str, stream: bool
) -> None:
    pepper = origin.state.settings.key_pepper
    suffix = uuid.uuid4().hex[:8]  # fresh projects per example: only the other tenant's entry exists
    key_a, _ = await postgres.create_key(pool, project=f"tenant-a-{suffix}", org="iso", pepper=pepper)
    key_b, _ = await postgres.create_key(pool, project=f"tenant-b-{suffix}", org="iso", pepper=pepper)
    messages = [{"role": "user", "content": text}]
    statuses = []
    for key in (key_a, key_b):
        raw = await client(origin, key, cache=True).chat.completions.with_raw_response.create(
            model="beta", messages=messages, stream=stream
        )
        if stream:
            async for _ in raw.parse():
                pass
        else:
            raw.parse()
        statuses.append(raw.headers["x-prism-cache"])
        await asyncio.sleep(0.01)
    assert statuses[1] == "miss"  # the other project's entry is never served


async def test_single_flight_coalesces_concurrent_misses(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    fake.configure("beta", Behaviour(latency_ms=300))
    prism = client(origin, api_key, cache=True)
    before = _coalesced(origin)
    messages = [{"role": "user", "content": "everyone asks this at once"}]

    async def ask(stream: bool) -> tuple[str, str]:
        raw = await prism.chat.completions.with_raw_response.create(
            model="beta", messages=messages, stream=stream
        )
        if stream:
            text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
        else:
            text = raw.parse().choices[0].message.content or ""
        return str(raw.headers["x-prism-cache"]), text

    results = await asyncio.gather(*(ask(stream=i % 2 == 0) for i in range(20)))
    assert fake.count("beta") == 1
    assert sorted(status for status, _ in results) == ["hit-exact"] * 19 + ["miss"]
    assert len({text for _, text in results}) == 1
    assert _coalesced(origin) - before == 19


async def test_single_flight_across_two_instances(
    origin: RunningOrigin, api_key: str, fake: FakeProvider, tmp_path: Path
) -> None:
    fake.configure("beta", Behaviour(latency_ms=300))
    messages = [{"role": "user", "content": "two instances, one upstream call"}]
    second_settings = replace(origin.state.settings, spool_dir=tmp_path / "spool2")
    async with running_origin(second_settings) as second:
        clients = [client(origin, api_key, cache=True), client(second, api_key, cache=True)]
        raws = await asyncio.gather(
            *(
                clients[i % 2].chat.completions.with_raw_response.create(model="beta", messages=messages)
                for i in range(10)
            )
        )
    assert fake.count("beta") == 1
    assert sorted(raw.headers["x-prism-cache"] for raw in raws) == ["hit-exact"] * 9 + ["miss"]


def _coalesced(origin: RunningOrigin) -> float:
    value = origin.state.metrics.registry.get_sample_value("prism_singleflight_coalesced_total")
    return value or 0.0


async def test_redis_down_degrades_the_cache_to_a_miss(
    base_settings: Settings, fake_server: tuple[FakeProvider, str], api_key: str, tmp_path: Path
) -> None:
    settings = gateway_settings(base_settings, fake_server[1], tmp_path, redis_url="redis://127.0.0.1:1/0")
    async with running_origin(settings) as origin:
        prism = client(origin, api_key, cache=True)
        for _ in range(2):
            raw = await prism.chat.completions.with_raw_response.create(model="beta", messages=QUESTION)
            assert raw.status_code == 200 and raw.headers["x-prism-cache"] == "miss"
        async with aiohttp.ClientSession() as session:
            async with session.get(origin.url + "/readyz") as response:
                body = await response.json()
        assert response.status == 503 and body["checks"]["redis"].startswith("unreachable")
