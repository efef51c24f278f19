"""The PII guard through a real origin: a prompt with personal data is answered but never cached nor
remembered; without the guard, or without personal data, both work as before; prompts never reach
the logs."""

import contextlib
import logging

import openai
import pytest

from origin.stores import controls, postgres
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, fresh_project

PERSONAL = "Refund the order of ada.lovelace@example.com, card 4111 1111 1111 1111."
PLAIN = "Refund the order of the customer who wrote yesterday."


async def _guarded_project(origin: RunningOrigin, pool: postgres.Pool, *, guard: bool) -> str:
    key, record = await fresh_project(origin, pool, "pii-org")
    await controls.update_project_settings(pool, record.project_id, {"pii_guard": guard})
    return key


async def _twice(origin: RunningOrigin, key: str, text: str) -> list[str]:
    prism = client(origin, key, cache=True)
    statuses = []
    for _ in range(2):
        raw = await prism.chat.completions.with_raw_response.create(
            model="beta", messages=[{"role": "user", "content": text}]
        )
        statuses.append(raw.headers["x-prism-cache"])
    return statuses


async def test_personal_data_is_never_cached_under_the_guard(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key = await _guarded_project(origin, pool, guard=True)
    assert await _twice(origin, key, PERSONAL) == ["bypass", "bypass"]
    assert fake.count("beta") == 2
    assert await _twice(origin, key, PLAIN) == ["miss", "hit-exact"]

    unguarded = await _guarded_project(origin, pool, guard=False)
    assert await _twice(origin, unguarded, PERSONAL + " again") == ["miss", "hit-exact"]


async def test_personal_data_is_not_remembered_under_the_guard(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key = await _guarded_project(origin, pool, guard=True)
    prism = client(origin, key, **{"X-Prism-Session": "pii-session"})
    await prism.chat.completions.create(model="beta", messages=[{"role": "user", "content": PERSONAL}])
    await origin.state.background.drain()
    await prism.chat.completions.create(model="beta", messages=[{"role": "user", "content": PLAIN}])
    await origin.state.background.drain()
    await prism.chat.completions.create(model="beta", messages=[{"role": "user", "content": "and then?"}])
    sent = fake.requests[-1].json
    assert sent is not None
    assert [m["content"] for m in sent["messages"] if m["role"] == "user"] == [PLAIN, "and then?"]


@pytest.mark.parametrize("model", ["beta", "dead"])
async def test_prompts_never_reach_the_logs(
    origin: RunningOrigin,
    pool: postgres.Pool,
    fake: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    model: str,
) -> None:
    """Answered or failed upstream ("dead" has no provider that answers), nothing logged holds the prompt."""
    key = await _guarded_project(origin, pool, guard=True)
    failure = pytest.raises(openai.APIStatusError) if model == "dead" else contextlib.nullcontext()
    with caplog.at_level(logging.DEBUG), failure:
        await client(origin, key).chat.completions.create(
            model=model, messages=[{"role": "user", "content": PERSONAL}]
        )
    await origin.state.writer.flush()
    assert caplog.records, "the request logged nothing at all"
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "ada.lovelace" not in logged and "4111" not in logged
