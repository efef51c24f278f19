"""``prism usage``: the API's numbers in a terminal, from the same queries, as a real process."""

import asyncio
import csv
import io
import json
import random
import subprocess
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest

from origin.settings import Settings
from origin.stores import postgres
from origin.usage.reports import REQUEST_FIELDS
from shared.usage import UsageRow
from tests.harness import RunningOrigin
from tests.origin.helpers import run_cli
from tests.origin.usage.traffic import edge_row, random_rows, write_rows

END = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
WINDOW = ("--since", "2025-03-01T00:00:00Z", "--until", "2025-03-11T00:00:00Z")
API_WINDOW = {"since": "2025-03-01T00:00:00Z", "until": "2025-03-11T00:00:00Z"}


class Org:
    def __init__(self, name: str, key: str, first: postgres.KeyRecord, second: postgres.KeyRecord) -> None:
        self.name, self.key, self.first, self.second = name, key, first, second
        self.rows: list[UsageRow] = []


def _ids(record: postgres.KeyRecord) -> dict[str, str]:
    return {"org_id": record.org_id, "project_id": record.project_id, "key_id": record.key_id}


@pytest.fixture(scope="module")
async def org(pool: postgres.Pool, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Org:
    name = f"usage-cli-{uuid4().hex[:8]}"
    key, first = await postgres.create_key(pool, project="web", org=name, pepper=base_settings.key_pepper)
    _, second = await postgres.create_key(pool, project="batch", org=name, pepper=base_settings.key_pepper)
    found = Org(name, key, first, second)
    rng = random.Random(13)
    found.rows = random_rows(rng, _ids(first), 80, end=END, span=timedelta(days=2))
    found.rows.append(edge_row(_ids(first), END - timedelta(hours=1), session_id="s-1", edge_region="SIN"))
    found.rows += random_rows(rng, _ids(second), 20, end=END, span=timedelta(days=2))
    await write_rows(pool, found.rows, tmp_path_factory.mktemp("spool"))
    return found


async def _prism(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, settings, "usage", *args)


async def _ok(settings: Settings, *args: str) -> str:
    result = await _prism(settings, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_json_is_exactly_the_api_body(base_settings: Settings, origin: RunningOrigin, org: Org) -> None:
    scope = ("--org", org.name, "--project", "web", *WINDOW)
    async with httpx.AsyncClient(base_url=origin.url, headers={"Authorization": f"Bearer {org.key}"}) as http:
        for cli, path, params in [
            (("summary",), "/v1/usage/summary", {}),
            (("by-tag", "--key", "feature"), "/v1/usage/by-tag", {"key": "feature"}),
            (
                ("requests", "--tag", "feature:search", "--limit", "7"),
                "/v1/usage/requests",
                {
                    "tag": "feature:search",
                    "limit": "7",
                },
            ),
            (("session", "s-1"), "/v1/usage/sessions/s-1", {}),
            (("timeseries", "--bucket", "day"), "/v1/usage/timeseries", {"bucket": "day"}),
        ]:
            response = await http.get(path, params={**API_WINDOW, **params})
            assert response.status_code == 200, response.text
            printed = await _ok(base_settings, *cli, *scope, "--format", "json")
            if path == "/v1/usage/summary":  # less the calling key's own month: the CLI speaks for no key
                api_body = response.json()
                api_body.pop("key")
                assert json.loads(printed) == api_body, cli
            else:
                assert printed == response.text + "\n", cli


async def test_the_org_is_all_its_projects(base_settings: Settings, org: Org) -> None:
    both = json.loads(await _ok(base_settings, "summary", "--org", org.name, *WINDOW, "--format", "json"))
    web = json.loads(
        await _ok(
            base_settings, "summary", "--org", org.name, "--project", "web", *WINDOW, "--format", "json"
        )
    )
    assert both["requests"] == len(org.rows)
    assert web["requests"] == sum(row.project_id == org.first.project_id for row in org.rows)


async def test_tables_a_person_reads(base_settings: Settings, org: Org) -> None:
    summary = await _ok(base_settings, "summary", "--org", org.name, *WINDOW)
    assert ["requests", str(len(org.rows))] in [line.split() for line in summary.splitlines()]
    assert any(line.startswith("hit_rate") and line.endswith("%") for line in summary.splitlines())

    tags = (await _ok(base_settings, "by-tag", "--key", "feature", "--org", org.name, *WINDOW)).splitlines()
    assert tags[0].split() == ["value", "requests", "cost_cents", "saved_cents", "hits", "hit_rate"]
    counts = {line.split()[0]: int(line.split()[1]) for line in tags[1:]}
    expected: dict[str, int] = {}
    for row in org.rows:
        value = (row.request_tags or {}).get("feature") or "(none)"
        expected[value] = expected.get(value, 0) + 1
    assert counts == expected

    session = (await _ok(base_settings, "session", "s-1", "--org", org.name, *WINDOW)).splitlines()
    turns = sorted((r for r in org.rows if r.session_id == "s-1"), key=lambda r: (r.created_at, r.request_id))
    assert session[0].startswith(f"session s-1: {len(turns)} turns")
    assert [line.split()[2] for line in session[2:]] == [r.request_id for r in turns]
    assert any("SIN" in line and "hit-exact-edge" in line for line in session)

    listing = await _prism(base_settings, "requests", "--org", org.name, *WINDOW, "--limit", "5")
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 6
    assert "more: add --cursor " in listing.stderr


async def test_csv_of_requests_is_every_matching_row(base_settings: Settings, org: Org) -> None:
    text = await _ok(
        base_settings, "requests", "--org", org.name, *WINDOW, "--model", "alpha", "--format", "csv"
    )
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == REQUEST_FIELDS
    expected = sorted(
        (r for r in org.rows if r.model_used == "alpha"),
        key=lambda r: (r.created_at, r.request_id),
        reverse=True,
    )
    assert [line[0] for line in table[1:]] == [r.request_id for r in expected]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("summary", "--since", "soon"), "--since:"),
        (("requests", "--tag", "feature"), "--tag:"),
        (("requests", "--limit", "9999"), "--limit:"),
        (("requests", "--format", "csv", "--limit", "5"), "--limit:"),
        (("session", "has space"), "ID:"),
        (("session", "never-seen"), "no session 'never-seen'"),
        (("summary", "--project", "nope"), "no project 'nope'"),
    ],
)
async def test_mistakes_are_one_line(
    base_settings: Settings, org: Org, args: tuple[str, ...], message: str
) -> None:
    result = await _prism(base_settings, *args, "--org", org.name)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("prism: ") and message in result.stderr, result.stderr


async def test_an_unknown_org_is_refused(base_settings: Settings) -> None:
    result = await _prism(base_settings, "summary", "--org", f"none-{uuid4().hex}")
    assert result.returncode == 1 and "no org named" in result.stderr
