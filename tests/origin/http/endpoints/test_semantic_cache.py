"""The semantic cache through a real origin, with the fake provider's embeddings endpoint."""

import uuid

from origin.stores import controls, postgres
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, usage_row

QUESTION = [{"role": "user", "content": "What is the capital city of France?"}]
REPHRASED = [{"role": "user", "content": "What is the capital of France?"}]
UNRELATED = [{"role": "user", "content": "How do I bake sourdough bread at home?"}]


async def _semantic_project(origin: RunningOrigin, pool: postgres.Pool) -> str:
    key, record = await postgres.create_key(
        pool, project=f"sem-{uuid.uuid4().hex[:8]}", org="tests", pepper=origin.state.settings.key_pepper
    )
    await controls.update_project_settings(pool, record.project_id, {"semantic_cache": True})
    return key


async def test_a_rephrased_question_is_a_semantic_hit(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    prism = client(origin, await _semantic_project(origin, pool), cache=True)
    first = await prism.chat.completions.with_raw_response.create(model="beta", messages=QUESTION)
    raw = await prism.chat.completions.with_raw_response.create(model="beta", messages=REPHRASED)
    assert (first.headers["x-prism-cache"], raw.headers["x-prism-cache"]) == ("miss", "hit-semantic")
    assert float(raw.headers["x-prism-similarity"]) >= 0.92
    assert raw.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert fake.count("beta") == 1
    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert row["cache_status"] == "hit-semantic" and float(row["cost_provider_cents"]) == 0
    assert float(row["cache_saved_cents"]) > 0

    unrelated = await prism.chat.completions.with_raw_response.create(model="beta", messages=UNRELATED)
    assert unrelated.headers["x-prism-cache"] == "miss"


async def test_semantic_cache_is_opt_in_and_scoped(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    plain = client(origin, api_key, cache=True)  # this project never opted in
    await plain.chat.completions.create(model="beta", messages=QUESTION)
    raw = await plain.chat.completions.with_raw_response.create(model="beta", messages=REPHRASED)
    assert raw.headers["x-prism-cache"] == "miss"

    opted = client(origin, api_key, cache=True, **{"X-Prism-Semantic": "on"})  # per request
    variant = [{"role": "user", "content": "what is the capital city of france"}]
    raw = await opted.chat.completions.with_raw_response.create(model="beta", messages=variant)
    assert raw.headers["x-prism-cache"] == "miss"  # the earlier answers were never stored semantically
    another = [{"role": "user", "content": "What is the capital city of France??"}]
    raw = await opted.chat.completions.with_raw_response.create(model="beta", messages=another)
    assert raw.headers["x-prism-cache"] == "hit-semantic"

    other = client(origin, await _semantic_project(origin, pool), cache=True)
    raw = await other.chat.completions.with_raw_response.create(model="beta", messages=another)
    assert raw.headers["x-prism-cache"] == "miss"  # another project never sees this one's entries
    other_model = await other.chat.completions.with_raw_response.create(model="alpha", messages=REPHRASED)
    assert other_model.headers["x-prism-cache"] == "miss"  # nor another model's


async def test_requests_with_tools_skip_the_semantic_cache(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    prism = client(origin, await _semantic_project(origin, pool), cache=True)
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    await prism.chat.completions.create(model="beta", messages=QUESTION, tools=tools)
    raw = await prism.chat.completions.with_raw_response.create(model="beta", messages=REPHRASED, tools=tools)
    assert raw.headers["x-prism-cache"] == "miss"
    assert fake.count(path="/v1/embeddings") == 0
