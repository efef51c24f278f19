"""``POST /v1/embeddings`` through a real origin with the official client: vectors as floats and base64,
the exact cache, fallbacks, policy, budgets, refusals, and one usage row per request."""

import math
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from origin.stores import controls, postgres
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, fresh_project, usage_row

PRICE_PER_TOKEN_CENTS = 0.02 / 10_000  # embed-small: 0.02 dollars per million input tokens


async def test_vectors_come_as_floats_or_base64_and_are_counted(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, **{"X-Prism-Session": "emb-1", "X-Prism-Tags": "feature=search"})
    floats = await prism.embeddings.with_raw_response.create(
        model="embed-small", input=["red bicycle", "blue helmet"], encoding_format="float"
    )
    answer = floats.parse()
    assert [item.index for item in answer.data] == [0, 1] and answer.model == "embed-small"
    assert len(answer.data[0].embedding) == 64
    assert math.isclose(sum(value * value for value in answer.data[0].embedding), 1.0)
    shorter = await prism.embeddings.create(model="embed-small", input="red bicycle", dimensions=8)
    assert len(shorter.data[0].embedding) == 8
    decoded = await prism.embeddings.create(model="embed-small", input="red bicycle")  # the SDK asks base64
    assert decoded.data[0].embedding == pytest.approx(answer.data[0].embedding, abs=1e-6)
    assert fake.requests[-1].json is not None and fake.requests[-1].json["encoding_format"] == "base64"

    row = await usage_row(origin, pool, floats.headers["x-prism-request-id"])
    assert (row["model_used"], row["task_type"], row["session_id"], row["tokens_out"]) == (
        "embed-small",
        "embedding",
        "emb-1",
        0,
    )
    assert row["tokens_in"] == answer.usage.prompt_tokens > 0
    assert float(row["cost_total_cents"]) == pytest.approx(answer.usage.prompt_tokens * PRICE_PER_TOKEN_CENTS)
    assert floats.headers["x-prism-cost-cents"] == f"{float(row['cost_total_cents']):.6f}"
    assert '"feature": "search"' in row["request_tags"]


async def test_the_same_input_is_served_from_the_cache(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    prism = client(origin, api_key, cache=True)
    first = await prism.embeddings.with_raw_response.create(
        model="embed-small", input="cache me", encoding_format="float"
    )
    again = await prism.embeddings.with_raw_response.create(
        model="embed-small", input="cache me", encoding_format="float"
    )
    other = await prism.embeddings.with_raw_response.create(
        model="embed-small", input="cache me", encoding_format="float", dimensions=4
    )
    assert [r.headers["x-prism-cache"] for r in (first, again, other)] == ["miss", "hit-exact", "miss"]
    assert again.parse().data[0].embedding == first.parse().data[0].embedding
    assert fake.count("fake-embed") == 2
    hit = await usage_row(origin, pool, again.headers["x-prism-request-id"])
    assert (hit["cache_status"], float(hit["cost_total_cents"])) == ("hit-exact", 0.0)
    assert float(hit["cache_saved_cents"]) > 0
    fresh = await client(origin, api_key).embeddings.with_raw_response.create(  # Cache-Control: no-store
        model="embed-small", input="cache me", encoding_format="float"
    )
    assert fresh.headers["x-prism-cache"] == "bypass" and fake.count("fake-embed") == 3


async def test_cached_embeddings_are_erased_and_scoped(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, _ = await fresh_project(origin, pool, "emb-org")
    tagged = client(origin, key, cache=True, **{"X-Prism-Tags": "feature=search"})
    embed = tagged.embeddings.with_raw_response.create
    assert (await embed(model="embed-small", input="forget me")).headers["x-prism-cache"] == "miss"
    assert (await embed(model="embed-small", input="forget me")).headers["x-prism-cache"] == "hit-exact"
    async with httpx.AsyncClient(base_url=origin.url) as http:
        erased = await http.delete(
            "/v1/cache", params={"tag": "feature:search"}, headers={"Authorization": f"Bearer {key}"}
        )
    assert erased.json()["deleted"]["exact"] == 1
    assert (await embed(model="embed-small", input="forget me")).headers["x-prism-cache"] == "miss"

    user_scoped, scoped_record = await fresh_project(origin, pool, "emb-org")
    await controls.update_project_settings(pool, scoped_record.project_id, {"cache_scope": "user"})
    per_user = client(origin, user_scoped, cache=True).embeddings.with_raw_response.create
    statuses = [
        (await per_user(model="embed-small", input="same text", **who)).headers["x-prism-cache"]
        for who in ({"user": "ada"}, {"user": "ada"}, {"user": "bob"}, {})
    ]
    assert statuses == ["miss", "hit-exact", "miss", "bypass"]  # nobody named: not cached at all


async def test_a_failing_model_falls_back(
    origin: RunningOrigin, pool: postgres.Pool, api_key: str, fake: FakeProvider
) -> None:
    fake.configure("fake-embed", Behaviour(fail_times=100, fail_status=503))
    raw = await client(origin, api_key).embeddings.with_raw_response.create(
        model="embed-small", input="hello"
    )
    assert raw.headers["x-prism-model"] == "embed-backup" and raw.parse().model == "embed-backup"
    row = await usage_row(origin, pool, raw.headers["x-prism-request-id"])
    assert row["model_used"] == "embed-backup"


async def _refusal(origin: RunningOrigin, key: str, body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.post("/v1/embeddings", json=body, headers={"Authorization": f"Bearer {key}"})
    payload: dict[str, Any] = response.json()
    return {"status": response.status_code, **payload["error"]}


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"model": "embed-small"}, 400, "invalid_type", "input"),
        ({"model": "embed-small", "input": []}, 400, "invalid_type", "input"),
        (
            {"model": "embed-small", "input": "x", "encoding_format": "hex"},
            400,
            "invalid_value",
            "encoding_format",
        ),
        ({"model": "embed-small", "input": "x", "dimensions": 0}, 400, "invalid_type", "dimensions"),
        ({"model": "beta", "input": "x"}, 400, "model_not_supported", "model"),
        ({"model": "nope", "input": "x"}, 404, "model_not_found", "model"),
        (["not", "an", "object"], 400, "invalid_body", None),
    ],
)
async def test_bad_requests_are_refused_and_counted(
    origin: RunningOrigin,
    pool: postgres.Pool,
    api_key: str,
    body: Any,
    status: int,
    code: str,
    param: str | None,
) -> None:
    error = await _refusal(origin, api_key, body)
    assert (error["status"], error["code"], error["param"]) == (status, code, param), error


async def test_an_embeddings_model_is_refused_by_chat(origin: RunningOrigin, api_key: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await client(origin, api_key).chat.completions.create(
            model="embed-small", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.code == "model_not_supported"
    listed = {model.id async for model in client(origin, api_key).models.list()}
    assert {"embed-small", "embed-backup"} <= listed


async def test_policy_and_budgets_hold_for_embeddings(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "emb-org")
    await controls.add_policy(
        pool,
        org_id=record.org_id,
        project_id=record.project_id,
        effect="deny",
        target="model",
        pattern="embed-small",
    )
    with pytest.raises(openai.PermissionDeniedError):
        await client(origin, key).embeddings.create(model="embed-small", input="x")

    key, record = await fresh_project(origin, pool, "emb-org")
    await controls.set_budget(pool, record.project_id, Decimal("0.000001"))  # under one token's price
    with pytest.raises(openai.RateLimitError) as raised:
        await client(origin, key).embeddings.create(model="embed-small", input="x")
    assert raised.value.code == "budget_exceeded"
