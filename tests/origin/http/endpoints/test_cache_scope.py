"""Retention and scope of Prism's own caches through a real origin: a project's maximum TTL no header
exceeds, and answers shared by the project, by each key, or by each end user."""

from typing import Any

from origin.cache.exact import entry_key
from origin.cache.memory import memory_key
from origin.stores import controls, postgres
from shared.fingerprint import fingerprint
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, fresh_project

QUESTION = [{"role": "user", "content": "how long do you keep this"}]


async def _status(
    origin: RunningOrigin, key: str, *, headers: dict[str, str] | None = None, **create: Any
) -> str:
    raw = await client(origin, key, cache=True, **(headers or {})).chat.completions.with_raw_response.create(
        model="beta", messages=QUESTION, **create
    )
    return raw.headers["x-prism-cache"]


async def _project(
    origin: RunningOrigin, pool: postgres.Pool, **settings: Any
) -> tuple[str, postgres.KeyRecord]:
    key, record = await fresh_project(origin, pool, "scope-org")
    if settings:
        await controls.update_project_settings(pool, record.project_id, settings)
    return key, record


async def test_no_header_keeps_an_answer_past_the_projects_retention(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    asked = {"X-Prism-Cache-TTL": "86400"}
    key, record = await _project(origin, pool, cache_max_ttl_seconds=60)
    assert await _status(origin, key, headers=asked) == "miss"
    fp = fingerprint(record.project_id, {"model": "beta", "messages": QUESTION})
    assert 0 < await origin.state.redis.ttl(entry_key(fp)) <= 60

    free, unbounded = await _project(origin, pool)
    assert await _status(origin, free, headers=asked) == "miss"
    fp = fingerprint(unbounded.project_id, {"model": "beta", "messages": QUESTION})
    assert await origin.state.redis.ttl(entry_key(fp)) > 3600


async def test_keys_share_answers_only_under_the_project_scope(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    pepper = origin.state.settings.key_pepper
    for scope, second_key_sees in (("project", "hit-exact"), ("key", "miss")):
        first, record = await _project(origin, pool, cache_scope=scope)
        second, _ = await postgres.create_key(
            pool, project=record.project_name, org=record.org_name, pepper=pepper
        )
        assert await _status(origin, first) == "miss"
        assert await _status(origin, first) == "hit-exact"
        assert await _status(origin, second) == second_key_sees


async def test_end_users_share_nothing_and_an_unnamed_user_is_not_cached(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, _ = await _project(origin, pool, cache_scope="user")
    assert await _status(origin, key, user="u1") == "miss"
    assert await _status(origin, key, user="u1") == "hit-exact"
    assert await _status(origin, key, safety_identifier="u1") == "hit-exact"  # the same person, newer field
    assert await _status(origin, key, user="u2") == "miss"
    assert [await _status(origin, key), await _status(origin, key)] == ["bypass", "bypass"]


async def test_session_memory_is_kept_no_longer_than_the_projects_retention(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    for cap, kept in ((120, True), (0, False)):
        key, record = await _project(origin, pool, cache_max_ttl_seconds=cap)
        session = client(origin, key, **{"X-Prism-Session": f"retained-{cap}"})
        await session.chat.completions.create(model="beta", messages=QUESTION)
        await origin.state.background.drain()
        stored = memory_key(record.project_id, f"retained-{cap}")
        if kept:
            assert 0 < await origin.state.redis.ttl(stored) <= cap
        else:
            assert await origin.state.redis.exists(stored) == 0
