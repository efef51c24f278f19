"""Sign-in, sessions and sign-out over HTTP: cookie flags, CSRF, the throttle, one answer for bad input."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from origin.dashboard.auth import SESSION_COOKIE
from origin.dashboard.passwords import hash_password
from origin.dashboard.throttle import LIMIT
from origin.stores import postgres, users
from tests.harness import RunningOrigin
from tests.origin.dashboard.world import PASSWORD, World, build_world, csrf_field, sign_in


@pytest.fixture(scope="module")
async def world(pool: postgres.Pool, tmp_path_factory: pytest.TempPathFactory) -> World:
    return await build_world(pool, Path(tmp_path_factory.mktemp("spool")))


@pytest.fixture
async def http(origin: RunningOrigin) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=origin.url, timeout=30) as client:
        yield client


async def test_pages_send_a_visitor_to_sign_in_and_back(http: httpx.AsyncClient, world: World) -> None:
    page = await http.get("/dashboard/sessions?since=7d")
    assert page.status_code == 303
    assert page.headers["location"] == "/dashboard/login?next=%2Fdashboard%2Fsessions%3Fsince%3D7d"
    signed = await sign_in(
        http, world.mine.email, form=page.headers["location"], next="/dashboard/sessions?since=7d"
    )
    assert (signed.status_code, signed.headers["location"]) == (303, "/dashboard/sessions?since=7d")
    assert (await http.get("/dashboard/sessions?since=7d")).status_code == 200


async def test_the_session_cookie_is_httponly_lax_and_expires(http: httpx.AsyncClient, world: World) -> None:
    response = await sign_in(http, world.mine.email.upper())
    assert response.status_code == 303
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION_COOKIE)
    )
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= flags and "samesite=lax" in cookie.lower()
    assert "secure" not in flags  # plain http on loopback; https sets it


async def test_a_wrong_password_and_an_unknown_address_get_the_same_401(
    http: httpx.AsyncClient, world: World
) -> None:
    wrong = await sign_in(http, world.mine.email, "not the password")
    unknown = await sign_in(http, "nobody@example.com", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 401 and SESSION_COOKIE not in response.cookies
        assert "That email and password do not match an account." in response.text
    assert (await http.get("/dashboard")).status_code == 303


async def test_sign_in_is_refused_past_the_limit_even_with_the_right_password(
    http: httpx.AsyncClient, world: World
) -> None:
    for _ in range(LIMIT):
        assert (await sign_in(http, world.theirs.email, "guess")).status_code == 401
    refused = await sign_in(http, world.theirs.email)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many sign-in attempts" in refused.text


async def test_posts_without_their_csrf_token_are_refused(http: httpx.AsyncClient, world: World) -> None:
    await http.get("/dashboard/login")
    login = await http.post("/dashboard/login", data={"email": world.mine.email, "password": PASSWORD})
    forged = await http.post(
        "/dashboard/login", data={"email": world.mine.email, "password": PASSWORD, "csrf": "x" * 43}
    )
    assert (login.status_code, forged.status_code) == (403, 403)
    assert (await sign_in(http, world.mine.email)).status_code == 303
    assert (await http.post("/dashboard/logout", data={})).status_code == 403
    assert (await http.get("/dashboard")).status_code == 200  # still signed in
    page = await http.get("/dashboard")
    out = await http.post("/dashboard/logout", data={"csrf": csrf_field(page.text)})
    assert (out.status_code, out.headers["location"]) == (303, "/dashboard/login")
    assert (await http.get("/dashboard")).status_code == 303


async def test_a_tampered_cookie_or_a_removed_user_is_signed_out(
    http: httpx.AsyncClient, world: World, pool: postgres.Pool
) -> None:
    assert (await sign_in(http, world.mine.email)).status_code == 303
    good = http.cookies[SESSION_COOKIE]
    payload, signature = good.split(".")
    http.cookies.set(SESSION_COOKIE, payload + "." + signature[::-1])
    assert (await http.get("/dashboard")).status_code == 303
    http.cookies.set(SESSION_COOKIE, good)
    assert (await http.get("/dashboard")).status_code == 200
    leaver = f"leaver-{world.mine.name}@example.com"
    await users.create_user(pool, org=world.mine.name, email=leaver, password_hash=hash_password(PASSWORD))
    http.cookies.clear()
    assert (await sign_in(http, leaver)).status_code == 303
    assert (await http.get("/dashboard")).status_code == 200
    assert await users.remove_user(pool, leaver)
    assert (await http.get("/dashboard")).status_code == 303


async def test_next_never_leaves_the_dashboard(http: httpx.AsyncClient, world: World) -> None:
    form = await http.get("/dashboard/login?next=//evil.example/dashboard")
    assert 'name="next" value="/dashboard"' in form.text
    signed = await sign_in(http, world.mine.email, next="https://evil.example")
    assert signed.headers["location"] == "/dashboard"
