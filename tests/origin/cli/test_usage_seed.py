"""``prism usage seed`` as a real process: projects with keys, the rows through the writer's insert."""

import asyncio

from origin.settings import Settings
from origin.stores import postgres
from shared.keys import key_hash
from tests.origin.helpers import run_cli
from tests.origin.usage.test_rollups import differences


async def test_seed_makes_projects_keys_and_rows(pool: postgres.Pool, base_settings: Settings) -> None:
    args = ("usage", "seed", "--rows", "3000", "--days", "2", "--orgs", "2", "--projects-per-org", "2")
    done = await asyncio.to_thread(run_cli, base_settings, *args, "--seed", "41")
    assert done.returncode == 0, done.stderr
    keys = dict(line.split("\t") for line in done.stdout.splitlines())
    assert sorted(keys) == [f"seed-org-{o}/seed-project-{o}-{p}" for o in (1, 2) for p in (1, 2)]
    assert "rows/s" in done.stderr and "ETA" in done.stderr and "3,000/3,000" in done.stderr
    for key in keys.values():
        assert await postgres.find_key(pool, key_hash(key, base_settings.key_pepper)) is not None
    ids = [
        str(row["id"]) for row in await pool.fetch("SELECT id FROM projects WHERE name LIKE 'seed-project-%'")
    ]
    count = "SELECT count(*) FROM usage_logs WHERE project_id = ANY($1::uuid[])"
    assert await pool.fetchval(count, ids) == 3000
    spread = await pool.fetchval(
        "SELECT max(created_at) - min(created_at) FROM usage_logs WHERE project_id = ANY($1::uuid[])", ids
    )
    assert spread.days == 1
    again = await asyncio.to_thread(run_cli, base_settings, *args, "--seed", "41")
    assert again.returncode == 0, again.stderr
    assert await pool.fetchval(count, ids) == 3000  # the same seed makes the same request ids
    assert await differences(pool) == dict.fromkeys(
        ["usage_rollups", "usage_tag_rollups", "usage_sessions"], 0
    )
