"""The session's prompt_cache_key through a real origin: sent to OpenAI-kind providers for session
requests, the client's own kept, none without a session, none to Anthropic, off per project."""

from typing import Any

from origin.chat.prompt_cache import session_cache_key
from origin.stores import controls, postgres
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, fresh_project

HELLO = [{"role": "user", "content": "hello cache key"}]


async def _sent(
    origin: RunningOrigin, fake: FakeProvider, key: str, model: str, **headers: str
) -> dict[str, Any]:
    await client(origin, key, **headers).chat.completions.create(model=model, messages=HELLO)
    sent = fake.requests[-1].json
    assert sent is not None
    return sent


async def test_a_sessions_turns_carry_one_key_that_hides_the_session(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "pck-org")
    first = await _sent(origin, fake, key, "beta", **{"X-Prism-Session": "conv-1"})
    again = await _sent(origin, fake, key, "beta", **{"X-Prism-Session": "conv-1"})
    other = await _sent(origin, fake, key, "beta", **{"X-Prism-Session": "conv-2"})
    pepper = origin.state.settings.key_pepper.encode()

    assert first["prompt_cache_key"] == again["prompt_cache_key"]
    assert first["prompt_cache_key"] == session_cache_key(pepper, record.project_id, "conv-1")
    assert "conv-1" not in first["prompt_cache_key"]
    assert other["prompt_cache_key"] != first["prompt_cache_key"]

    other_key, _ = await fresh_project(origin, pool, "pck-org")
    elsewhere = await _sent(origin, fake, other_key, "beta", **{"X-Prism-Session": "conv-1"})
    assert elsewhere["prompt_cache_key"] != first["prompt_cache_key"]  # two projects, two sessions


async def test_no_session_no_key_and_the_clients_own_key_stays(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, _ = await fresh_project(origin, pool, "pck-org")
    assert "prompt_cache_key" not in await _sent(origin, fake, key, "beta")

    await client(origin, key, **{"X-Prism-Session": "conv-1"}).chat.completions.create(
        model="beta", messages=HELLO, prompt_cache_key="mine"
    )
    assert fake.requests[-1].json is not None and fake.requests[-1].json["prompt_cache_key"] == "mine"


async def test_anthropic_gets_no_key(origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider) -> None:
    key, _ = await fresh_project(origin, pool, "pck-org")
    sent = await _sent(origin, fake, key, "claude", **{"X-Prism-Session": "conv-1"})
    assert "prompt_cache_key" not in sent


async def test_a_project_can_turn_it_off(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "pck-org")
    await controls.update_project_settings(pool, record.project_id, {"prompt_cache_key": False})
    assert "prompt_cache_key" not in await _sent(origin, fake, key, "beta", **{"X-Prism-Session": "conv-1"})
