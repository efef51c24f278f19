"""The usage API through a real origin: numbers from the rows, tenants apart, bad parameters named."""

import asyncio
import csv
import io
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import openai
import pytest

from origin.settings import Settings
from origin.stores import postgres
from origin.usage.reports import CACHE_STATUS_ORDER as STATUSES
from origin.usage.reports import REQUEST_FIELDS
from shared.usage import UsageRow
from tests.harness import RunningOrigin
from tests.origin.usage.traffic import edge_row, random_row, random_rows, write_rows

HITS = ("hit-exact", "hit-semantic", "hit-exact-edge")


@dataclass
class Tenant:
    key: str
    record: postgres.KeyRecord
    rows: list[UsageRow]

    @property
    def ids(self) -> dict[str, str]:
        r = self.record
        return {"org_id": r.org_id, "project_id": r.project_id, "key_id": r.key_id}


async def _tenant(pool: postgres.Pool, settings: Settings, org: str) -> Tenant:
    key, record = await postgres.create_key(
        pool, project=f"usage-{uuid4().hex[:8]}", org=org, pepper=settings.key_pepper
    )
    return Tenant(key, record, [])


@pytest.fixture(scope="module")
async def tenants(
    pool: postgres.Pool, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Tenant, Tenant]:
    """Two orgs' projects with traffic over the last two days; both use session id "s-1"."""
    rng = random.Random(11)
    now = datetime.now(UTC)
    mine = await _tenant(pool, base_settings, "usage-org-a")
    theirs = await _tenant(pool, base_settings, "usage-org-b")
    mine.rows = random_rows(rng, mine.ids, 150, end=now - timedelta(minutes=5), span=timedelta(days=2))
    mine.rows.append(edge_row(mine.ids, now - timedelta(hours=3), session_id="s-1", edge_region="FRA"))
    mine.rows.append(edge_row(mine.ids, now - timedelta(days=40)))  # outside the default window
    theirs.rows = random_rows(rng, theirs.ids, 40, end=now - timedelta(minutes=5), span=timedelta(days=2))
    await write_rows(pool, mine.rows + theirs.rows, tmp_path_factory.mktemp("spool"))
    return mine, theirs


@pytest.fixture
async def http(origin: RunningOrigin) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=origin.url, timeout=30) as client:
        yield client


async def _get(http: httpx.AsyncClient, key: str, path: str, params: Any = None) -> httpx.Response:
    return await http.get(path, params=params, headers={"Authorization": f"Bearer {key}"})


async def _json(http: httpx.AsyncClient, key: str, path: str, params: Any = None) -> Any:
    response = await _get(http, key, path, params)
    assert response.status_code == 200, response.text
    return response.json()


def _recent(tenant: Tenant) -> list[UsageRow]:
    since = datetime.now(UTC) - timedelta(days=30)
    return [row for row in tenant.rows if row.created_at >= since]


def _cents(rows: list[UsageRow], name: str) -> float:
    return float(sum((Decimal(repr(getattr(row, name))) for row in rows), Decimal(0)))


async def test_summary_counts_the_keys_own_rows(
    http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
) -> None:
    mine = tenants[0]
    rows = _recent(mine)
    body = await _json(http, mine.key, "/v1/usage/summary")
    hits = sum(row.cache_status in HITS for row in rows)
    misses = sum(row.cache_status == "miss" for row in rows)
    own = body.pop("key")
    assert (own["id"], own["budget_cents"], own["budget_left_cents"]) == (mine.record.key_id, None, None)
    assert body == {
        "requests": len(rows),
        "errors": sum(not row.success for row in rows),
        "cost_cents": _cents(rows, "cost_total_cents"),
        "saved_cents": _cents(rows, "cache_saved_cents"),
        "tokens_in": sum(row.tokens_in for row in rows),
        "tokens_out": sum(row.tokens_out for row in rows),
        "tokens_cached_in": sum(row.tokens_cached_in for row in rows),
        "by_cache_status": {status: sum(row.cache_status == status for row in rows) for status in STATUSES},
        "saved_cents_by_cache_status": {
            status: _cents([row for row in rows if row.cache_status == status], "cache_saved_cents")
            for status in STATUSES
        },
        "hit_rate": hits / (hits + misses),
    }
    wider = await _json(http, mine.key, "/v1/usage/summary", {"since": "90d"})
    assert wider["requests"] == len(mine.rows)


async def test_the_official_client_reads_the_api(
    origin: RunningOrigin, tenants: tuple[Tenant, Tenant]
) -> None:
    mine = tenants[0]
    client = openai.AsyncOpenAI(base_url=origin.url + "/v1", api_key=mine.key, max_retries=0)
    body = await client.get("/usage/summary", cast_to=httpx.Response)
    assert body.json()["requests"] == len(_recent(mine))
    with pytest.raises(openai.BadRequestError) as refused:
        await client.get("/usage/summary", cast_to=httpx.Response, options={"params": {"since": "soon"}})
    assert refused.value.param == "since" and refused.value.code == "invalid_parameter"
    wrong = openai.AsyncOpenAI(base_url=origin.url + "/v1", api_key="prism_sk_" + "x" * 40, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await wrong.get("/usage/summary", cast_to=httpx.Response)


async def test_tag_groups_sum_to_the_summary(http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]) -> None:
    mine = tenants[0]
    summary = await _json(http, mine.key, "/v1/usage/summary")
    for key in ("feature", "team"):
        body = await _json(http, mine.key, "/v1/usage/by-tag", {"key": key})
        assert body["key"] == key
        groups = {group["value"]: group for group in body["groups"]}
        assert None in groups  # rows without the key
        assert sum(g["requests"] for g in body["groups"]) == summary["requests"]
        assert sum(g["cost_cents"] for g in body["groups"]) == pytest.approx(summary["cost_cents"], abs=1e-9)
        assert sum(g["saved_cents"] for g in body["groups"]) == pytest.approx(
            summary["saved_cents"], abs=1e-9
        )
        for value, group in groups.items():
            members = [row for row in _recent(mine) if (row.request_tags or {}).get(key) == value]
            assert group["requests"] == len(members)
            assert group["cost_cents"] == _cents(members, "cost_total_cents")
            assert group["hits"] == sum(row.cache_status in HITS for row in members)


async def test_model_groups_sum_to_the_summary(
    http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
) -> None:
    mine = tenants[0]
    summary = await _json(http, mine.key, "/v1/usage/summary")
    body = await _json(http, mine.key, "/v1/usage/by-model")
    assert body["key"] == "model"
    assert sum(g["requests"] for g in body["groups"]) == summary["requests"]
    for group in body["groups"]:
        members = [row for row in _recent(mine) if row.model_used == group["value"]]
        assert group["requests"] == len(members)
        assert group["cost_cents"] == _cents(members, "cost_total_cents")
        assert group["saved_cents"] == _cents(members, "cache_saved_cents")
    costs = [g["cost_cents"] for g in body["groups"]]
    assert costs == sorted(costs, reverse=True)


async def test_sessions_are_listed_costliest_first(
    http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
) -> None:
    mine = tenants[0]
    body = await _json(http, mine.key, "/v1/usage/sessions")
    expected = {
        sid: [row for row in _recent(mine) if row.session_id == sid]
        for sid in {row.session_id for row in _recent(mine) if row.session_id is not None}
    }
    assert {item["session_id"] for item in body["data"]} == set(expected)
    for item in body["data"]:
        turns = expected[item["session_id"]]
        assert item["requests"] == len(turns)
        assert item["cost_cents"] == _cents(turns, "cost_total_cents")
        assert datetime.fromisoformat(item["last_at"]) == max(turn.created_at for turn in turns)
        assert datetime.fromisoformat(item["first_at"]) == min(turn.created_at for turn in turns)
    costs = [item["cost_cents"] for item in body["data"]]
    assert costs == sorted(costs, reverse=True)
    one = await _json(http, mine.key, "/v1/usage/sessions", {"limit": "1"})
    assert one["data"] == body["data"][:1]


async def test_one_request_by_id_only_in_its_own_project(
    http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
) -> None:
    mine, theirs = tenants
    edge = mine.rows[-2]  # the edge hit the fixture adds, in session s-1 from FRA
    body = await _json(http, mine.key, f"/v1/usage/requests/{edge.request_id}")
    assert list(body) == list(REQUEST_FIELDS)
    assert body["request_id"] == edge.request_id and body["edge_region"] == "FRA"
    assert body["cache_status"] == "hit-exact-edge" and body["session_id"] == "s-1"
    other = await _get(http, theirs.key, f"/v1/usage/requests/{edge.request_id}")
    assert other.status_code == 404 and other.json()["error"]["param"] == "request_id"
    bad = await _get(http, mine.key, "/v1/usage/requests/not-a-uuid")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_parameter"


def _newest_first(rows: list[UsageRow]) -> list[str]:
    return [r.request_id for r in sorted(rows, key=lambda r: (r.created_at, r.request_id), reverse=True)]


async def test_requests_are_paged_newest_first(
    http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
) -> None:
    mine = tenants[0]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 40}
    while True:
        body = await _json(http, mine.key, "/v1/usage/requests", params)
        seen += [row["request_id"] for row in body["data"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == _newest_first(_recent(mine))
    first = await _json(http, mine.key, "/v1/usage/requests")
    assert len(first["data"]) == 50 and tuple(first["data"][0]) == REQUEST_FIELDS


async def test_request_filters_and_an_edge_row(
    http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
) -> None:
    mine = tenants[0]
    params = [("session", "s-1"), ("cache_status", "hit-exact-edge"), ("tag", "feature:search")]
    body = await _json(http, mine.key, "/v1/usage/requests", params)
    expected = [
        r
        for r in _recent(mine)
        if r.session_id == "s-1"
        and r.cache_status == "hit-exact-edge"
        and (r.request_tags or {}).get("feature") == "search"
    ]
    assert [row["request_id"] for row in body["data"]] == _newest_first(expected)
    edge = next(row for row in body["data"] if row["edge_region"] == "FRA")
    assert edge["request_tags"] == {"feature": "search"} and edge["provider"] == "cache"
    failed = await _json(http, mine.key, "/v1/usage/requests", {"success": "false", "limit": 500})
    assert {row["request_id"] for row in failed["data"]} == {
        r.request_id for r in _recent(mine) if not r.success
    }


async def test_csv_streams_the_same_rows(http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]) -> None:
    mine = tenants[0]
    response = await _get(http, mine.key, "/v1/usage/requests.csv", {"model": "beta"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    assert tuple(table[0]) == REQUEST_FIELDS
    expected = [r for r in _recent(mine) if r.model_used == "beta"]
    assert [line[0] for line in table[1:]] == _newest_first(expected)
    by_id = {r.request_id: r for r in expected}
    for line in table[1:]:
        row = dict(zip(REQUEST_FIELDS, line, strict=True))
        source = by_id[row["request_id"]]
        assert Decimal(row["cost_total_cents"]) == Decimal(repr(source.cost_total_cents))
        assert row["success"] == ("true" if source.success else "false")
        assert datetime.fromisoformat(row["created_at"]) == source.created_at


async def test_a_session_lists_its_turns_in_order(
    http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
) -> None:
    mine, theirs = tenants
    body = await _json(http, mine.key, "/v1/usage/sessions/s-1")
    turns = [r for r in _recent(mine) if r.session_id == "s-1"]
    assert [turn["request_id"] for turn in body["turns"]] == _newest_first(turns)[::-1]
    assert body["requests"] == len(turns) == len(body["turns"])
    assert body["cost_cents"] == _cents(turns, "cost_total_cents")
    assert body["saved_cents"] == _cents(turns, "cache_saved_cents")
    theirs_body = await _json(http, theirs.key, "/v1/usage/sessions/s-1")
    assert {t["request_id"] for t in theirs_body["turns"]}.isdisjoint(t["request_id"] for t in body["turns"])
    missing = await _get(http, mine.key, "/v1/usage/sessions/never-seen")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_timeseries_points_add_up(http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]) -> None:
    mine = tenants[0]
    body = await _json(http, mine.key, "/v1/usage/timeseries", {"bucket": "hour", "since": "3d"})
    assert body["bucket"] == "hour" and 72 <= len(body["points"]) <= 74
    rows = [r for r in mine.rows if r.created_at >= datetime.now(UTC) - timedelta(days=3)]
    points = body["points"]
    assert sum(p["requests"] for p in points) == len(rows)
    assert sum(p["hits_edge"] for p in points) == sum(r.cache_status == "hit-exact-edge" for r in rows)
    assert sum(p["errors"] for p in points) == sum(not r.success for r in rows)
    assert set(points[0]) == {
        "t",
        "requests",
        "cost_cents",
        "saved_cents",
        "hits_edge",
        "hits_origin",
        "misses",
        "errors",
    }


async def test_another_tenant_is_never_visible(
    http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
) -> None:
    mine, theirs = tenants
    mine_ids = {r.request_id for r in mine.rows}
    listing = await _json(http, theirs.key, "/v1/usage/requests", {"limit": 500, "since": "90d"})
    assert {row["request_id"] for row in listing["data"]}.isdisjoint(mine_ids)
    summary = await _json(http, theirs.key, "/v1/usage/summary")
    assert summary["requests"] == len(_recent(theirs))
    for path in (
        "/v1/usage/summary",
        "/v1/usage/requests",
        "/v1/usage/requests.csv",
        "/v1/usage/sessions/s-1",
    ):
        response = await _get(http, theirs.key, path, {"project": mine.record.project_id})
        assert response.status_code == 404, path
        assert response.json()["error"]["param"] == "project"
    own = await _json(http, mine.key, "/v1/usage/summary", {"project": mine.record.project_id})
    assert own["requests"] == len(_recent(mine))


BAD_PARAMS = [
    ("/v1/usage/summary", {"since": "yesterday"}, "since"),
    ("/v1/usage/summary", {"until": "2020-01-01"}, "until"),
    ("/v1/usage/summary", {"project": "nope"}, "project"),
    ("/v1/usage/summary", {"sinse": "1d"}, "sinse"),
    ("/v1/usage/by-tag", {}, "key"),
    ("/v1/usage/requests", {"limit": "501"}, "limit"),
    ("/v1/usage/requests", {"cursor": "garbage"}, "cursor"),
    ("/v1/usage/requests", {"tag": "feature"}, "tag"),
    ("/v1/usage/requests", {"cache_status": "hit"}, "cache_status"),
    ("/v1/usage/requests", {"success": "maybe"}, "success"),
    ("/v1/usage/requests", {"session": "two words"}, "session"),
    ("/v1/usage/requests.csv", {"limit": "5"}, "limit"),
    ("/v1/usage/sessions/s-1", {"since": "1x"}, "since"),
    ("/v1/usage/timeseries", {"bucket": "week"}, "bucket"),
    ("/v1/usage/timeseries", {"bucket": "minute", "since": "30d"}, "bucket"),
]


@pytest.mark.parametrize(("path", "params", "param"), BAD_PARAMS)
async def test_bad_parameters_are_a_400_naming_them(
    http: httpx.AsyncClient, tenants: tuple[Tenant, Tenant], path: str, params: dict[str, str], param: str
) -> None:
    response = await _get(http, tenants[0].key, path, params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["code"] == "invalid_parameter"
    assert error["type"] == "invalid_request_error" and error["message"]


async def test_a_key_is_required(http: httpx.AsyncClient) -> None:
    for path in ("/v1/usage/summary", "/v1/usage/requests.csv", "/v1/usage/sessions/s-1"):
        response = await http.get(path)
        assert response.status_code == 401 and response.json()["error"]["code"] == "missing_api_key"


async def test_pages_never_repeat_or_skip_while_rows_arrive(
    http: httpx.AsyncClient, origin: RunningOrigin, pool: postgres.Pool, base_settings: Settings
) -> None:
    tenant = await _tenant(pool, base_settings, "usage-org-a")
    rng = random.Random(12)
    now = datetime.now(UTC)
    # Many rows share timestamps, so a page boundary often falls inside a tie.
    stamps = [now - timedelta(minutes=rng.randrange(1, 60)) for _ in range(40)]
    before = [random_row(rng, tenant.ids, rng.choice(stamps)) for _ in range(400)]
    for row in before:
        origin.state.writer.submit(row)
    await origin.state.writer.flush()

    arrived: list[UsageRow] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            for _ in range(5):
                # New requests, and late edge rows stamped in the already-paged past.
                stamp = datetime.now(UTC) if rng.random() < 0.5 else rng.choice(stamps)
                row = random_row(rng, tenant.ids, stamp)
                arrived.append(row)
                origin.state.writer.submit(row)
            await origin.state.writer.flush()
            await asyncio.sleep(0)

    writer = asyncio.create_task(traffic())
    seen: list[tuple[str, str]] = []
    params: dict[str, Any] = {"limit": 17}
    try:
        while True:
            body = await _json(http, tenant.key, "/v1/usage/requests", params)
            seen += [(row["created_at"], row["request_id"]) for row in body["data"]]
            if body["next_cursor"] is None:
                break
            params["cursor"] = body["next_cursor"]
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await writer
    assert len(arrived) > 20, "rows should have arrived while paging"
    ids = [request_id for _, request_id in seen]
    assert len(ids) == len(set(ids)), "a row was repeated"
    assert {row.request_id for row in before} <= set(ids), "a row that was there all along was skipped"
    keys = [(datetime.fromisoformat(stamp), request_id) for stamp, request_id in seen]
    assert keys == sorted(keys, reverse=True)
