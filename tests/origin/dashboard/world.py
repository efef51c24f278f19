"""Two orgs with traffic and a dashboard user each, for the dashboard's tests; and sign-in over HTTP."""

import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from origin.dashboard.passwords import hash_password
from origin.stores import postgres, users
from shared.usage import UsageRow
from tests.origin.usage.traffic import edge_row, random_rows, write_rows

PASSWORD = "a long dashboard password"
TURNS = 4


@dataclass
class Org:
    name: str
    email: str
    projects: dict[str, postgres.KeyRecord] = field(default_factory=dict)
    rows: list[UsageRow] = field(default_factory=list)

    def ids(self, project: str) -> dict[str, Any]:
        record = self.projects[project]
        return {"org_id": record.org_id, "project_id": record.project_id, "key_id": record.key_id}


@dataclass
class World:
    mine: Org
    theirs: Org
    edge: UsageRow  # an edge hit of mine, with two tags and a region
    session_id: str  # a session of mine whose turns are known
    cold_session_id: str  # a session of mine whose third turn went cold at the provider
    their_session_id: str  # a session only the other org has

    def in_window(self, org: Org, days: int = 30) -> list[UsageRow]:
        since = datetime.now(UTC) - timedelta(days=days)
        return [row for row in org.rows if row.created_at >= since]


def cents(rows: list[UsageRow], name: str = "cost_total_cents") -> Decimal:
    return sum((Decimal(str(getattr(row, name))) for row in rows), Decimal(0))


async def _org(pool: postgres.Pool, label: str, projects: tuple[str, ...]) -> Org:
    suffix = uuid.uuid4().hex[:8]
    org = Org(f"dash-{label}-{suffix}", f"{label}-{suffix}@example.com")
    for project in projects:
        _, org.projects[project] = await postgres.create_key(
            pool, project=project, org=org.name, pepper="p" * 16
        )
    assert await users.create_user(pool, org=org.name, email=org.email, password_hash=hash_password(PASSWORD))
    return org


async def build_world(pool: postgres.Pool, spool: Path) -> World:
    rng = random.Random(23)
    now = datetime.now(UTC)
    mine = await _org(pool, "mine", ("web", "batch"))
    theirs = await _org(pool, "theirs", ("web",))
    end, span = now - timedelta(minutes=10), timedelta(days=2)
    mine.rows = random_rows(rng, mine.ids("web"), 60, end=end, span=span)
    mine.rows += random_rows(rng, mine.ids("batch"), 20, end=end, span=span)
    edge = edge_row(
        mine.ids("web"),
        now - timedelta(hours=2),
        edge_region="FRA",
        request_tags={"feature": "edge-search", "team": "growth"},
        session_id="conv-edge",
    )
    session_id = f"conv-{uuid.uuid4().hex[:6]}"
    turns = [
        UsageRow(
            **mine.ids("web"),
            created_at=now - timedelta(hours=5) + timedelta(minutes=3 * i),
            model_used="alpha",
            provider="fakeoai",
            cost_total_cents=0.25 * (i + 1),
            session_id=session_id,
            cache_status="hit-exact" if i == 2 else "miss",
            request_tags={"feature": "chat"},
        )
        for i in range(TURNS)
    ]
    first = turns[0]  # read from and wrote to the provider's cache
    first.tokens_in, first.tokens_cached_in = 2500, 300
    first.tokens_cache_write_5m, first.tokens_cache_write_1h = 1200, 800
    mine.rows += [edge, *turns, edge_row(mine.ids("web"), now - timedelta(days=60))]
    mine.rows += _provider_cache_rows(mine, now, cold_session_id := f"cold-{uuid.uuid4().hex[:6]}")
    their_session_id = f"theirs-{uuid.uuid4().hex[:6]}"
    theirs.rows = random_rows(rng, theirs.ids("web"), 15, end=end, span=span)
    theirs.rows.append(edge_row(theirs.ids("web"), now - timedelta(hours=1), session_id=their_session_id))
    await write_rows(pool, mine.rows + theirs.rows, spool)
    return World(mine, theirs, edge, session_id, cold_session_id, their_session_id)


def _provider_cache_rows(org: Org, now: datetime, session_id: str) -> list[UsageRow]:
    """Five turns on one prefix whose third read nothing, the first one a new model version
    answered; three requests writing one cold prefix within 600 ms."""
    ids = org.ids("web")
    session = [
        UsageRow(
            **ids,
            created_at=now - timedelta(hours=4) + timedelta(minutes=i),
            model_used="claude",
            provider="fakeant",
            session_id=session_id,
            tokens_in=2000,
            tokens_cached_in=cached,
            prefix_fp="fp-support",
            prefix_tokens=1800,
            model_version="claude-a" if i < 2 else "claude-b",
        )
        for i, cached in enumerate([0, 1800, 0, 1800, 1800])
    ]
    stampede = [
        UsageRow(
            **ids,
            created_at=now - timedelta(hours=3) + timedelta(milliseconds=300 * i),
            model_used="claude",
            provider="fakeant",
            tokens_in=1600,
            tokens_cache_write_5m=1500,
            prefix_fp="fp-launch",
            prefix_tokens=1500,
        )
        for i in range(3)
    ]
    return session + stampede


def csrf_field(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found[1]


async def sign_in(
    client: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    *,
    form: str = "/dashboard/login",
    **fields: str,
) -> httpx.Response:
    """Sign in as a browser would: get the form (and its pre-session cookie), post it with its token."""
    page = await client.get(form)
    assert page.status_code == 200
    data = {"email": email, "password": password, "csrf": csrf_field(page.text), **fields}
    return await client.post("/dashboard/login", data=data)
