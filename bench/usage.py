"""The usage API at scale: seed a dedicated database with N rows (once), serve it, time every call.

Each size gets its own database, ``prism_bench_usage_1m`` / ``_10m`` (``_<N>`` otherwise), seeded by
``prism usage seed`` and marked with a comment naming the seed's arguments; a later run with the same
arguments reuses it. One origin serves it; each call in ``CALLS`` is timed ``REPEAT`` times after a
warm-up, one at a time, with the key of the busiest seeded project. Medians over ``TARGET_MS`` miss.

``CALLS`` is a plain table so other pages (the dashboard's) can join it: a call names the headers it
sends (``auth``), and ``measure`` takes one header set per name (a signed-in cookie, say).
"""

import asyncio
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import asyncpg

from bench.stack import HOST, StackError, create_key, free_port, origin_service, prism_command, prism_env

SIZES: Final = (1_000_000, 10_000_000)
DAYS: Final = 90
ORGS: Final = 3
PROJECTS_PER_ORG: Final = 3
SEED: Final = 1
REPEAT: Final = 20
TARGET_MS: Final = 250.0
DEEP_PAGES: Final = 50
ALL_WINDOWS: Final = ("24h", "7d", "30d", "90d")
BUSIEST: Final = ("seed-org-1", "seed-project-1-1")  # the seed's heaviest project (Zipf rank 1)


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    # A path with {window} and the {placeholders} of ``Fixtures``; quoted values are filled in.
    path: str
    windows: tuple[str, ...] = ("30d",)
    auth: str = "key"


CALLS: Final = (
    Call("summary", "/v1/usage/summary?since={window}", ALL_WINDOWS),
    Call("by-tag feature", "/v1/usage/by-tag?key=feature&since={window}", ALL_WINDOWS),
    Call("by-model", "/v1/usage/by-model?since={window}", ALL_WINDOWS),
    Call("timeseries hour", "/v1/usage/timeseries?bucket=hour&since={window}", ALL_WINDOWS),
    Call("timeseries day", "/v1/usage/timeseries?bucket=day&since={window}", ALL_WINDOWS),
    Call("timeseries minute", "/v1/usage/timeseries?bucket=minute&since={window}", ("24h",)),
    Call("sessions list", "/v1/usage/sessions?since={window}", ALL_WINDOWS),
    Call("one session", "/v1/usage/sessions/{session}?since={window}", ("90d",)),
    Call("requests page 1", "/v1/usage/requests?since={window}", ALL_WINDOWS),
    Call(
        f"requests page {DEEP_PAGES + 1}", "/v1/usage/requests?since={window}&cursor={deep_cursor}", ("90d",)
    ),
    Call("requests tag", "/v1/usage/requests?since={window}&tag=feature:translate", ALL_WINDOWS),
    Call("requests 2 tags", "/v1/usage/requests?since={window}&tag=feature:export&tag=env:dev", ("90d",)),
    Call("requests session", "/v1/usage/requests?since={window}&session={session}", ("90d",)),
    Call("requests model", "/v1/usage/requests?since={window}&model=deepseek-chat", ("30d",)),
    Call("requests edge hits", "/v1/usage/requests?since={window}&cache_status=hit-exact-edge", ("30d",)),
    Call("requests errors", "/v1/usage/requests?since={window}&success=false", ("30d",)),
    Call("one request", "/v1/usage/requests/{request_id}", ("-",)),
    Call(
        "csv tag+status 24h",
        "/v1/usage/requests.csv?since={window}&tag=feature:export&cache_status=hit-exact-edge",
        ("24h",),
    ),
    # A signed-in user of the busiest org: the API over all its projects, then the dashboard's pages.
    Call("org summary", "/v1/usage/summary?since={window}", ("30d", "90d"), auth="dashboard"),
    Call("org by-tag feature", "/v1/usage/by-tag?key=feature&since={window}", ("90d",), auth="dashboard"),
    Call("org sessions list", "/v1/usage/sessions?since={window}", ("30d", "90d"), auth="dashboard"),
    Call("page overview", "/dashboard?since={window}", ALL_WINDOWS, auth="dashboard"),
    Call("page requests", "/dashboard/requests?since={window}", ("30d",), auth="dashboard"),
    Call(
        "page requests tag", "/dashboard/requests?since={window}&tag=feature:translate", ("90d",), "dashboard"
    ),
    Call("page request", "/dashboard/requests/{request_id}", ("-",), auth="dashboard"),
    Call("page features", "/dashboard/features?key=feature&since={window}", ("30d", "90d"), "dashboard"),
    Call("page sessions", "/dashboard/sessions?since={window}", ("30d", "90d"), auth="dashboard"),
    Call("page session", "/dashboard/sessions/{session}?since={window}", ("90d",), auth="dashboard"),
)
DASHBOARD_USER: Final = ("bench@prism.invalid", "bench-dashboard-password")


@dataclass(frozen=True, slots=True)
class Timing:
    rows: int
    call: str
    window: str
    median_ms: float
    p95_ms: float
    status: int

    @property
    def met(self) -> bool:
        return self.status == 200 and self.median_ms <= TARGET_MS


def database_name(rows: int) -> str:
    label = {1_000_000: "1m", 10_000_000: "10m"}.get(rows, str(rows))
    return f"prism_bench_usage_{label}"


def seed_mark(rows: int) -> str:
    shape = f"days={DAYS} orgs={ORGS} projects_per_org={PROJECTS_PER_ORG} seed={SEED}"
    return f"prism usage seed rows={rows} {shape}"


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _mark(admin_url: str, name: str) -> str | None:
    conn = await asyncpg.connect(admin_url)
    try:
        mark: str | None = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
        )
        return mark
    finally:
        await conn.close()


async def _admin(admin_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _prism(env: Mapping[str, str], *args: str, stdout: Any = subprocess.DEVNULL) -> None:
    done = subprocess.run([*prism_command(), *args], env=dict(env), stdout=stdout, check=False)
    if done.returncode != 0:
        raise StackError(f"prism {' '.join(args)} exited {done.returncode}")


def ensure_dashboard_user(env: Mapping[str, str]) -> None:
    """The busiest org's bench user, with a known password (made again on every run)."""
    email, password = DASHBOARD_USER
    subprocess.run(
        [*prism_command(), "users", "remove", "--email", email],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    create = [*prism_command(), "users", "create", "--org", BUSIEST[0], "--email", email, "--password-stdin"]
    done = subprocess.run(
        create, env=dict(env), input=password, text=True, stdout=subprocess.DEVNULL, check=False
    )
    if done.returncode != 0:
        raise StackError(f"prism users create exited {done.returncode}")


async def _signed_in(base: str) -> dict[str, str]:
    """The Cookie header of a dashboard session, got as a browser gets it: the form, then its post."""
    email, password = DASHBOARD_USER
    # unsafe: aiohttp keeps no cookies for an IP address host otherwise.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/dashboard/login") as form:
            found = re.search(r'name="csrf" value="([^"]+)"', await form.text())
        if found is None:
            raise StackError("the dashboard's sign-in form has no CSRF field")
        data = {"email": email, "password": password, "csrf": found[1]}
        async with http.post(f"{base}/dashboard/login", data=data, allow_redirects=False) as response:
            cookie = response.cookies.get("prism_session")
            if response.status != 303 or cookie is None:
                raise StackError(f"dashboard sign-in answered {response.status}")
        return {"Cookie": f"prism_session={cookie.value}"}


def ensure_seeded(
    env: dict[str, str], rows: int, workdir: Path, progress: Callable[[str], None]
) -> dict[str, str]:
    """The environment of an origin on the seeded database (seeding it first when it is not)."""
    name = database_name(rows)
    admin = _with_database(env["PRISM_DATABASE_URL"], "postgres")
    env = {**env, "PRISM_DATABASE_URL": _with_database(env["PRISM_DATABASE_URL"], name)}
    if asyncio.run(_mark(admin, name)) == seed_mark(rows):
        progress(f"  usage: {name} already holds {rows:,} seeded rows; reused (migrated to this checkout)")
        _prism(env, "migrate")
        return env
    progress(f"  usage: seeding {name} with {rows:,} rows (progress below)")
    asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'))
    _prism(env, "migrate")
    started = time.monotonic()
    with (workdir / f"{name}.keys").open("w") as keys:
        _prism(
            env,
            *("usage", "seed", "--rows", str(rows), "--days", str(DAYS), "--orgs", str(ORGS)),
            *("--projects-per-org", str(PROJECTS_PER_ORG), "--seed", str(SEED)),
            stdout=keys,
        )
    progress(f"  usage: seeded {rows:,} rows in {time.monotonic() - started:.0f} s")
    _prism(env, "migrate")
    asyncio.run(_vacuum(env["PRISM_DATABASE_URL"]))
    asyncio.run(_admin(admin, f"COMMENT ON DATABASE \"{name}\" IS '{seed_mark(rows)}'"))
    return env


async def _vacuum(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _timed(http: aiohttp.ClientSession, url: str, headers: Mapping[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    async with http.get(url, headers=headers) as response:
        await response.read()
        return (time.perf_counter() - started) * 1000, response.status


async def _json(http: aiohttp.ClientSession, url: str, headers: Mapping[str, str]) -> Any:
    async with http.get(url, headers=headers) as response:
        if response.status != 200:
            raise StackError(f"GET {url} answered {response.status}: {(await response.text())[:200]}")
        return await response.json()


async def _fixtures(http: aiohttp.ClientSession, base: str, headers: Mapping[str, str]) -> dict[str, str]:
    """The values the calls need: a costly session, a request id, the cursor ``DEEP_PAGES`` pages down."""
    sessions = await _json(http, f"{base}/v1/usage/sessions?since=90d&limit=1", headers)
    page = await _json(http, f"{base}/v1/usage/requests?since=90d", headers)
    first_id = page["data"][0]["request_id"]
    for _ in range(DEEP_PAGES):
        page = await _json(http, f"{base}/v1/usage/requests?since=90d&cursor={page['next_cursor']}", headers)
    return {
        "session": sessions["data"][0]["session_id"],
        "request_id": first_id,
        "deep_cursor": page["next_cursor"],
    }


async def _measure_calls(
    base: str, headers: Mapping[str, Mapping[str, str]], rows: int, calls: Sequence[Call]
) -> list[Timing]:
    timings = []
    async with aiohttp.ClientSession() as http:
        fixtures = await _fixtures(http, base, headers["key"])
        for call in calls:
            for window in call.windows:
                values = {name: quote(value, safe="") for name, value in fixtures.items()}
                url = base + call.path.format(window=window, **values)
                await _timed(http, url, headers[call.auth])
                samples = [await _timed(http, url, headers[call.auth]) for _ in range(REPEAT)]
                times = sorted(ms for ms, _ in samples)
                status = max(status for _, status in samples)
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                timings.append(Timing(rows, call.name, window, statistics.median(times), p95, status))
    return timings


def measure(
    sizes: Sequence[int], workdir: Path, progress: Callable[[str], None], calls: Sequence[Call] = CALLS
) -> list[Timing]:
    timings: list[Timing] = []
    base_env = prism_env(workdir, free_port())
    for rows in sizes:
        env = ensure_seeded(base_env, rows, workdir, progress)
        key = create_key(env, project=BUSIEST[1], org=BUSIEST[0])
        ensure_dashboard_user(env)
        port = free_port()
        origin = origin_service("prism serve (usage)", env, port, workdir / f"usage-{rows}.log")
        try:
            origin.wait_ready(f"http://{HOST}:{port}/healthz")
            progress(
                f"  usage: timing {sum(len(c.windows) for c in calls)} calls x {REPEAT} at {rows:,} rows"
            )
            base = f"http://{HOST}:{port}"
            headers = {"key": {"Authorization": f"Bearer {key}"}, "dashboard": asyncio.run(_signed_in(base))}
            timings += asyncio.run(_measure_calls(base, headers, rows, calls))
        finally:
            origin.stop()
    return timings


def table(timings: Sequence[Timing]) -> str:
    sizes = sorted({t.rows for t in timings})
    cells = {(t.call, t.window, t.rows): t for t in timings}
    keys = list(dict.fromkeys((t.call, t.window) for t in timings))
    header = f"{'usage API call':<22}{'window':>7}" + "".join(
        f"{f'{rows / 1e6:g}M median':>14}{'p95':>8}" for rows in sizes
    )
    lines = [header]
    for call, window in keys:
        line = f"{call:<22}{window:>7}"
        for rows in sizes:
            timing = cells.get((call, window, rows))
            if timing is None:
                line += f"{'-':>14}{'-':>8}"
                continue
            flag = "" if timing.met else (" MISSED" if timing.status == 200 else f" HTTP {timing.status}")
            line += f"{timing.median_ms:>11.1f} ms{timing.p95_ms:>8.1f}{flag}"
        lines.append(line)
    missed = [t for t in timings if not t.met]
    lines.append(
        f"target: every median <= {TARGET_MS:.0f} ms (one call at a time, one origin worker): "
        + ("met" if not missed else f"MISSED by {len(missed)} of {len(timings)}")
    )
    return "\n".join(lines)
