"""``DELETE /v1/cache`` through a real origin: what requests left behind (exact and semantic entries,
session memory) erased by session, by tag or all of it, counted, and only in the key's project."""

import asyncio
import json
from typing import Any

import httpx
import pytest

from origin.chat.prefix_survey import survey_keys
from origin.stores import controls, postgres
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin
from tests.origin.helpers import client, fresh_project, run_cli

SEMANTIC_ON = {"X-Prism-Semantic": "on"}


async def _ask(origin: RunningOrigin, key: str, question: str, **headers: str) -> str:
    prism = client(origin, key, cache=True, **SEMANTIC_ON, **headers)
    raw = await prism.chat.completions.with_raw_response.create(
        model="beta", messages=[{"role": "user", "content": question}]
    )
    await origin.state.background.drain()  # memory is recorded once the request settles
    return raw.headers["x-prism-cache"]


async def _erase(origin: RunningOrigin, key: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=origin.url) as http:
        return await http.delete("/v1/cache", params=params, headers={"Authorization": f"Bearer {key}"})


async def _deleted(origin: RunningOrigin, key: str, **params: str) -> dict[str, Any]:
    response = await _erase(origin, key, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["object"] == "cache.deleted"
    return body["deleted"]  # type: ignore[no-any-return]


async def test_erase_by_session_then_tag_then_everything(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "erase-org")
    memory, project = origin.state.memory, record.project_id
    search, chat = {"X-Prism-Tags": "feature=search"}, {"X-Prism-Tags": "feature=chat"}
    assert await _ask(origin, key, "where is my parcel", **{"X-Prism-Session": "s1"}, **search) == "miss"
    assert await _ask(origin, key, "write me a haiku", **{"X-Prism-Session": "s2"}, **chat) == "miss"
    assert await _ask(origin, key, "opening hours of the shop", **search) == "miss"
    assert await _ask(origin, key, "opening hours of the shop") == "hit-exact"
    assert len(await memory.history(project, "s1", token_budget=1000)) == 2

    assert await _deleted(origin, key, session="s1") == {"exact": 1, "semantic": 1, "edge": 0, "memory": 1}
    assert await memory.history(project, "s1", token_budget=1000) == []
    assert await _deleted(origin, key, tag="feature:search") == {
        "exact": 1,
        "semantic": 1,
        "edge": 0,
        "memory": 0,
    }

    other, _ = await fresh_project(origin, pool, "erase-org")
    assert await _deleted(origin, other, all="true") == {"exact": 0, "semantic": 0, "edge": 0, "memory": 0}
    assert await _ask(origin, key, "write me a haiku") == "hit-exact"  # another project erased nothing here

    await origin.state.survey.survey(project, "f" * 32, "a prefix surveyed from a prompt")
    assert await _deleted(origin, key, all="true") == {"exact": 1, "semantic": 1, "edge": 0, "memory": 1}
    assert await origin.state.redis.exists(*survey_keys(project)) == 0
    upstream = fake.count("beta")
    for question in ("where is my parcel", "write me a haiku", "opening hours of the shop"):
        assert await _ask(origin, key, question) == "miss"
    assert fake.count("beta") == upstream + 3


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "session"),
        ({"session": "a", "all": "true"}, "session"),
        ({"all": "yes"}, "all"),
        ({"tag": "no-colon"}, "tag"),
        ({"everything": "true"}, "everything"),
    ],
)
async def test_a_selector_is_required_and_checked(
    origin: RunningOrigin, pool: postgres.Pool, params: dict[str, str], param: str
) -> None:
    key, _ = await fresh_project(origin, pool, "erase-org")
    response = await _erase(origin, key, **params)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_erasure_needs_a_key(origin: RunningOrigin) -> None:
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.delete("/v1/cache", params={"all": "true"})
    assert response.status_code == 401


async def test_the_cli_erases_as_the_api_does(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "erase-org")
    assert (
        await _ask(origin, key, "erase me from the command line", **{"X-Prism-Tags": "feature=cli"}) == "miss"
    )
    scope = ("--org", record.org_name, "--project", record.project_name)

    erased = await asyncio.to_thread(
        run_cli, origin.state.settings, "cache", "erase", *scope, "--tag", "feature:cli"
    )
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout) == {
        "object": "cache.deleted",
        "deleted": {"exact": 1, "semantic": 1, "edge": 0, "memory": 0},
    }
    assert await _ask(origin, key, "erase me from the command line") == "miss"
    refused = await asyncio.to_thread(
        run_cli, origin.state.settings, "cache", "erase", *scope, "--tag", "nocolon"
    )
    assert refused.returncode != 0 and "--tag" in refused.stderr


async def test_residency_lists_no_session_memory_where_the_project_keeps_none(
    origin: RunningOrigin, pool: postgres.Pool
) -> None:
    key, record = await fresh_project(origin, pool, "erase-org")
    await controls.update_project_settings(pool, record.project_id, {"session_memory": False})
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.get("/v1/cache/residency", headers={"Authorization": f"Bearer {key}"})
    assert response.json()["stores"][0]["holds"] == ["exact answers"]


async def test_residency_says_where_the_answers_live_and_for_how_long(
    origin: RunningOrigin, pool: postgres.Pool, fake: FakeProvider
) -> None:
    key, record = await fresh_project(origin, pool, "erase-org")
    await controls.update_project_settings(pool, record.project_id, {"cache_max_ttl_seconds": 600})
    assert await _ask(origin, key, "where do you keep me") == "miss"
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.get("/v1/cache/residency", headers={"Authorization": f"Bearer {key}"})
    report = response.json()
    assert response.status_code == 200, report
    assert (report["scope"], report["leaves_region"], report["entries_indexed"]) == ("project", False, 2)
    redis_store = report["stores"][0]
    assert redis_store["store"] == "redis" and "@" not in redis_store["address"]
    assert redis_store["holds"] == ["exact answers", "session memory"]  # semantic is off for the project
    assert redis_store["ttl_seconds"] == {"answers": 600, "longest_asked": 600, "memory": 600}
    assert [store["store"] for store in report["stores"]] == ["redis"]  # no local copies, no Workers KV here

    printed = await asyncio.to_thread(
        run_cli,
        origin.state.settings,
        "cache",
        "residency",
        "--org",
        record.org_name,
        "--project",
        record.project_name,
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == report
