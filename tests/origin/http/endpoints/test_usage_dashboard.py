"""The usage API from a signed-in browser: no Authorization header, the dashboard session's org."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from origin.stores import postgres
from tests.harness import RunningOrigin
from tests.origin.dashboard.world import World, build_world, cents, sign_in


@pytest.fixture(scope="module")
async def world(pool: postgres.Pool, tmp_path_factory: pytest.TempPathFactory) -> World:
    return await build_world(pool, Path(tmp_path_factory.mktemp("spool")))


@pytest.fixture
async def http(origin: RunningOrigin) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=origin.url, timeout=30) as client:
        yield client


async def test_a_session_sees_every_project_of_its_org(http: httpx.AsyncClient, world: World) -> None:
    assert (await http.get("/v1/usage/summary")).status_code == 401
    assert (await sign_in(http, world.mine.email)).status_code == 303
    summary = (await http.get("/v1/usage/summary")).json()
    rows = world.in_window(world.mine)
    assert summary["requests"] == len(rows)
    assert summary["cost_cents"] == pytest.approx(float(cents(rows)))
    web = world.mine.projects["web"].project_id
    narrowed = (await http.get("/v1/usage/summary", params={"project": web})).json()
    assert narrowed["requests"] == sum(1 for row in rows if row.project_id == web)
    theirs = world.theirs.projects["web"].project_id
    assert (await http.get("/v1/usage/summary", params={"project": theirs})).status_code == 404
    their_row = world.theirs.rows[0].request_id
    assert (await http.get(f"/v1/usage/requests/{their_row}")).status_code == 404
    assert (await http.get(f"/v1/usage/sessions/{world.their_session_id}")).status_code == 404


async def test_a_bearer_key_keeps_its_own_project_even_beside_a_session(
    http: httpx.AsyncClient, world: World, pool: postgres.Pool, origin: RunningOrigin
) -> None:
    assert (await sign_in(http, world.mine.email)).status_code == 303
    key, _ = await postgres.create_key(
        pool, project="bearer-only", org=world.theirs.name, pepper=origin.state.settings.key_pepper
    )
    summary = await http.get("/v1/usage/summary", headers={"Authorization": f"Bearer {key}"})
    assert summary.status_code == 200 and summary.json()["requests"] == 0  # its own empty project
    bad = await http.get("/v1/usage/summary", headers={"Authorization": "Bearer prism_sk_nope"})
    assert bad.status_code == 401  # a header is never overridden by the cookie
