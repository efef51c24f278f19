"""The dashboard in real headless Chromium (Debian's, driven by Playwright), against a real origin.

Every number read off a page (tile values, chart marks' data attributes) is checked against the rows
written. Each page's full-page screenshot lands in test-artifacts/.
"""

import re
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Final

import pytest
from playwright.async_api import Browser, Page, async_playwright

from origin.dashboard.throttle import LIMIT
from origin.stores import postgres, warmups
from tests.harness import RunningOrigin
from tests.origin.dashboard.world import PASSWORD, TURNS, World, build_world, cents

CHROMIUM: Final = "/usr/bin/chromium"
ARTIFACTS: Final = Path(__file__).resolve().parents[3] / "test-artifacts"

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="playwright is a dev dependency: make setup"
)
pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"{CHROMIUM} is missing: `make setup` apt-installs Debian's chromium",
)


@pytest.fixture(scope="module")
async def world(pool: postgres.Pool, tmp_path_factory: pytest.TempPathFactory) -> World:
    return await build_world(pool, Path(tmp_path_factory.mktemp("spool")))


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, origin: RunningOrigin) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=origin.url, viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    yield page
    await context.close()


async def _sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/dashboard/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _values(page: Page, selector: str, attribute: str = "data-value") -> list[str]:
    values: list[str] = await page.eval_on_selector_all(
        selector, f"els => els.map(e => e.getAttribute('{attribute}'))"
    )
    return values


async def test_sign_in_and_the_overview_numbers_are_the_rows(page: Page, world: World) -> None:
    await _sign_in(page, world.mine.email)
    await page.wait_for_url("**/dashboard")
    rows = world.in_window(world.mine)
    tiles = {
        name: (await _values(page, f"[data-tile={name}]"))[0]
        for name in ("spend", "requests", "savings", "hit-rate")
    }
    assert Decimal(tiles["spend"]) == cents(rows)
    assert int(tiles["requests"]) == len(rows)
    assert Decimal(tiles["savings"]) == cents(rows, "cache_saved_cents")
    statuses = Counter(row.cache_status for row in rows)
    hits = statuses["hit-exact"] + statuses["hit-semantic"] + statuses["hit-exact-edge"]
    assert float(tiles["hit-rate"]) == pytest.approx(hits / (hits + statuses["miss"]))
    edge_saved = (await _values(page, "[data-saving=edge]"))[0]
    assert Decimal(edge_saved) == cents(
        [r for r in rows if r.cache_status == "hit-exact-edge"], "cache_saved_cents"
    )

    for chart in ("hit-rate", "spend", "top-models", "top-features"):
        assert await page.locator(f"svg[data-chart={chart}][data-empty=false]").count() == 1, chart
    edge_marks = await _values(page, "[data-chart=hit-rate] [data-series='edge hits']")
    assert sum(int(v) for v in edge_marks) == statuses["hit-exact-edge"]
    miss_marks = await _values(page, "[data-chart=hit-rate] [data-series=misses]")
    assert sum(int(v) for v in miss_marks) == statuses["miss"]
    assert sum(Decimal(v) for v in await _values(page, "[data-chart=spend] [data-value]")) == cents(rows)
    models = dict(
        zip(
            await _values(page, "[data-chart=top-models] [data-label]", "data-label"),
            await _values(page, "[data-chart=top-models] [data-label]"),
            strict=True,
        )
    )
    for model in ("alpha", "beta"):
        assert Decimal(models[model]) == cents([r for r in rows if r.model_used == model])
    await _shot(page, "overview")


async def test_filter_requests_by_tag_and_find_the_edge_hit(page: Page, world: World) -> None:
    await _sign_in(page, world.mine.email)
    await page.goto("/dashboard/requests")
    await page.fill("input[name=tag] >> nth=0", "feature:edge-search")
    await page.select_option("select[name=cache_status]", "hit-exact-edge")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url("**tag=feature%3Aedge-search**")
    row = page.locator(f"tr[data-request-id='{world.edge.request_id}']")
    assert await page.locator("tbody tr[data-request-id]").count() == 1
    assert await row.get_attribute("data-edge-region") == "FRA"
    assert "feature=edge-search" in await row.inner_text() and "team=growth" in await row.inner_text()
    await _shot(page, "requests")
    await row.locator("a").first.click()
    await page.wait_for_url(f"**/dashboard/requests/{world.edge.request_id}")
    assert await page.inner_text("[data-field=edge_region]") == "FRA"
    await _shot(page, "request")


async def test_a_request_shows_its_provider_cache_writes(page: Page, world: World) -> None:
    first = min((r for r in world.mine.rows if r.session_id == world.session_id), key=lambda r: r.created_at)
    plain = next(r for r in world.mine.rows if r.session_id == world.session_id and r is not first)
    await _sign_in(page, world.mine.email)
    await page.goto(f"/dashboard/requests/{first.request_id}")
    assert await page.inner_text("[data-field=cache_writes]") == "1,200 kept 5 min · 800 kept 1 h"
    await page.goto(f"/dashboard/requests/{plain.request_id}")
    assert await page.locator("[data-field=cache_writes]").count() == 0


async def test_paging_through_requests_follows_the_cursor(page: Page, world: World) -> None:
    await _sign_in(page, world.mine.email)
    await page.goto("/dashboard/requests?limit=25")
    seen: list[str] = []
    while True:
        seen += await _values(page, "tbody tr[data-request-id]", "data-request-id")
        following = page.locator("a[rel=next]")
        if await following.count() == 0:
            break
        await following.click()
        await page.wait_for_load_state()
    assert len(seen) == len(set(seen)) == len(world.in_window(world.mine))


async def test_a_session_shows_its_turns_in_order(page: Page, world: World) -> None:
    await _sign_in(page, world.mine.email)
    await page.goto("/dashboard/sessions")
    assert world.session_id in await _values(page, "tr[data-session]", "data-session")
    await _shot(page, "sessions")
    await page.click(f"a:text-is('{world.session_id}')")
    web = world.mine.projects["web"].project_id
    await page.wait_for_url(re.compile(rf"/dashboard/sessions/{world.session_id}\?project={web}$"))
    costs = await _values(page, "tbody tr[data-request-id]", "data-cost")
    assert [Decimal(c) for c in costs] == [Decimal("0.25") * (i + 1) for i in range(TURNS)]
    statuses = await _values(page, "tbody tr[data-request-id]", "data-cache-status")
    assert statuses == ["miss", "miss", "hit-exact", "miss"]
    assert int((await _values(page, "[data-tile=turns]"))[0]) == TURNS
    await _shot(page, "session")


async def test_the_provider_cache_page_shows_cold_turns_and_stampedes(
    page: Page, world: World, origin: RunningOrigin
) -> None:
    web = world.mine.projects["web"]
    for fp, user in (("a" * 32, "ada"), ("b" * 32, "bob")):
        await origin.state.survey.survey(web.project_id, fp, f"Shared words here. For {user} now")
    prefix = {"model": "claude", "messages": [{"role": "system", "content": "Be brief."}]}
    await warmups.save(origin.state.pool, web.project_id, "nightly", web.key_id, prefix, 60)
    await origin.state.pool.execute(  # last run an hour ago: overdue
        "UPDATE prompt_warmups SET last_run_at = now() - interval '1 hour', runs = 3 WHERE project_id = $1",
        web.project_id,
    )
    await _sign_in(page, world.mine.email)
    await page.click("nav >> text=Provider cache")
    await page.wait_for_url("**/dashboard/cache")
    assert await _values(page, "[data-tile=cold-turns]") == ["1"]
    assert await _values(page, "tr[data-session]", "data-session") == [world.cold_session_id]
    assert await _values(page, f"tr[data-session='{world.cold_session_id}'] .turn", "data-share") == [
        "0.0",
        "0.9",
        "0.0",
        "0.9",
        "0.9",
    ]
    assert await _values(page, "tr[data-stampede]", "data-requests") == ["3"]
    extra = float((await _values(page, "tr[data-stampede]", "data-extra"))[0])
    assert extra == pytest.approx(
        3 * 1500 * (3.75 - 0.3) / 10_000 * 2 / 3
    )  # two writes a wait would have saved
    assert set(await _values(page, "tr[data-prefix]", "data-prefix")) == {"fp-support", "fp-launch"}
    assert await _values(page, "tr[data-change]", "data-change") == ["claude-b"]
    assert await _values(page, "tr[data-change]", "data-dropped") == ["false"]  # 45 % before, 60 % after
    assert await _values(page, "tr[data-warmup]", "data-overdue") == ["true"]
    await warmups.delete(origin.state.pool, web.project_id, "nightly")
    assert await _values(page, "[data-field=diverge]", "data-token") == ["6"]
    assert "first differ at token 6, after Shared words here. For ⟨differs⟩" in (
        await page.inner_text("[data-field=diverge]")
    )
    await _shot(page, "provider-cache")


async def test_features_group_by_any_tag_key(page: Page, world: World) -> None:
    await _sign_in(page, world.mine.email)
    await page.goto("/dashboard/features?key=team")
    rows = world.in_window(world.mine)
    for value in ("growth", "core"):
        expected = cents([r for r in rows if (r.request_tags or {}).get("team") == value])
        assert (
            Decimal((await _values(page, f"[data-chart=feature-cost] [data-label={value}]"))[0]) == expected
        )
    total = sum(Decimal(v) for v in await _values(page, "tr[data-group]", "data-cost"))
    assert total == cents(rows)  # with the untagged group, every row once
    await page.goto("/dashboard/features")
    await _shot(page, "features")


async def test_another_orgs_urls_are_404(page: Page, world: World) -> None:
    await _sign_in(page, world.mine.email)
    their_project = world.theirs.projects["web"].project_id
    for path in (
        f"/dashboard?project={their_project}",
        f"/dashboard/requests?project={their_project}",
        f"/dashboard/requests/{world.theirs.rows[0].request_id}",
        f"/dashboard/sessions/{world.their_session_id}",
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 404, path
    await _shot(page, "not-found")
    response = await page.goto("/dashboard/requests?cache_status=warm")
    assert response is not None and response.status == 400
    assert "cache_status" in await page.inner_text("h1")


async def test_a_wrong_password_is_refused_then_the_throttle_answers(page: Page, world: World) -> None:
    await _sign_in(page, world.theirs.email, "not the password")
    assert "do not match an account" in await page.inner_text("[role=alert]")
    assert page.url.endswith("/dashboard/login")
    await _shot(page, "login-refused")
    token = await page.get_attribute("input[name=csrf]", "value") or ""
    for _ in range(LIMIT - 1):
        await page.request.post(
            "/dashboard/login", form={"email": world.theirs.email, "password": "x", "csrf": token}
        )
    await _sign_in(page, world.theirs.email)
    assert "Too many sign-in attempts" in await page.inner_text("main")


async def test_posts_without_the_csrf_token_are_refused(page: Page, world: World) -> None:
    await page.goto("/dashboard/login")
    login = await page.request.post(
        "/dashboard/login", form={"email": world.mine.email, "password": PASSWORD}
    )
    assert login.status == 403
    await _sign_in(page, world.mine.email)
    await page.wait_for_url("**/dashboard")
    assert (await page.request.post("/dashboard/logout", form={})).status == 403
    await page.click("text=Sign out")
    await page.wait_for_url("**/dashboard/login")
    assert (await page.goto("/dashboard")) is not None and page.url.endswith(
        "/dashboard/login?next=%2Fdashboard"
    )


async def test_tab_reaches_the_filters(page: Page, world: World) -> None:
    await _sign_in(page, world.mine.email)
    await page.goto("/dashboard/requests")
    reached: list[str] = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        reached.append(await page.evaluate("document.activeElement.getAttribute('name') || ''"))
        if reached[-1] == "session":
            break
    assert reached[-1] == "session", reached
    assert {"project", "since", "until"} <= set(reached)
