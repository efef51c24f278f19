"""Session memory through a real origin: history inserted, trimmed per project, erased on request."""

import asyncio

import aiohttp
import openai
import pytest

from origin.cache.memory import memory_key
from origin.stores import controls, postgres
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, fresh_project


async def _settled(origin: RunningOrigin) -> None:
    await origin.state.background.drain()


async def test_history_is_inserted_after_the_system_prompt(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, cache=True, **{"X-Prism-Session": "chat-42"})
    system = {"role": "system", "content": "you are terse"}
    await prism.chat.completions.create(
        model="beta", messages=[system, {"role": "user", "content": "my name is Ada"}]
    )
    await _settled(origin)
    raw = await prism.chat.completions.with_raw_response.create(
        model="beta", messages=[system, {"role": "user", "content": "what is my name"}]
    )
    sent = fake.requests[-1].json
    assert sent is not None
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][1]["content"] == "my name is Ada"
    assert sent["messages"][2]["content"] == "echo: my name is Ada"
    assert raw.headers["x-prism-cache"] == "bypass"  # an answer that depends on history is never cached


async def test_memory_off_and_client_managed_history_are_left_alone(
    origin: RunningOrigin, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, **{"X-Prism-Session": "chat-43"})
    await prism.chat.completions.create(model="beta", messages=[{"role": "user", "content": "remember me"}])
    await _settled(origin)
    await prism.chat.completions.create(
        model="beta", messages=[{"role": "user", "content": "fresh"}], extra_headers={"X-Prism-Memory": "off"}
    )
    assert len(fake.requests[-1].json["messages"]) == 1  # type: ignore[index]
    own = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    await prism.chat.completions.create(model="beta", messages=own)
    assert fake.requests[-1].json["messages"] == own  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="X-Prism-Memory"):
        await prism.chat.completions.create(
            model="beta", messages=own, extra_headers={"X-Prism-Memory": "always"}
        )


async def test_a_project_without_session_memory_keeps_and_adds_no_history(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "memoryless-org")
    await controls.update_project_settings(pool, record.project_id, {"session_memory": False})
    prism = client(origin, key, cache=True, **{"X-Prism-Session": "chat-44", "X-Prism-Memory": "auto"})
    await prism.chat.completions.create(
        model="beta", messages=[{"role": "user", "content": "my name is Ada"}]
    )
    await _settled(origin)
    raw = await prism.chat.completions.with_raw_response.create(
        model="beta", messages=[{"role": "user", "content": "what is my name"}]
    )
    assert len(fake.requests[-1].json["messages"]) == 1  # type: ignore[index]
    assert raw.headers["x-prism-cache"] == "miss"  # cacheable: no history can change the answer
    assert not await origin.state.redis.exists(memory_key(record.project_id, "chat-44"))


async def test_sessions_are_project_scoped_and_erasable(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider
) -> None:
    other_key, _ = await postgres.create_key(
        pool, project="other-memory", org="tests", pepper=origin.state.settings.key_pepper
    )
    mine = client(origin, api_key, **{"X-Prism-Session": "shared-id"})
    theirs = client(origin, other_key, **{"X-Prism-Session": "shared-id"})
    await mine.chat.completions.create(model="beta", messages=[{"role": "user", "content": "secret plan"}])
    await _settled(origin)
    await theirs.chat.completions.create(model="beta", messages=[{"role": "user", "content": "hello"}])
    assert len(fake.requests[-1].json["messages"]) == 1  # type: ignore[index]

    async with aiohttp.ClientSession() as session:
        async with session.delete(
            origin.url + "/v1/sessions/shared-id", headers={"Authorization": f"Bearer {api_key}"}
        ) as response:
            assert response.status == 200 and (await response.json())["deleted"] is True
        async with session.delete(
            origin.url + "/v1/sessions/shared-id", headers={"Authorization": f"Bearer {api_key}"}
        ) as response:
            assert (await response.json())["deleted"] is False
    await mine.chat.completions.create(model="beta", messages=[{"role": "user", "content": "after erase"}])
    assert len(fake.requests[-1].json["messages"]) == 1  # type: ignore[index]
    await asyncio.sleep(0)
