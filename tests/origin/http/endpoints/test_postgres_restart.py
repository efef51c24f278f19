"""Postgres stopped and restarted in the middle of a run of requests: every row arrives exactly once."""

import asyncio
import time
from pathlib import Path

from origin.settings import Settings
from origin.stores import postgres
from origin.stores.migrate import migrate
from tests.fakes.provider import FakeProvider
from tests.harness import running_origin
from tests.origin.helpers import client, gateway_settings
from tests.pgcluster import TempPostgres

HELLO = [{"role": "user", "content": "count me exactly once"}]


async def test_rows_survive_a_postgres_restart_mid_load(
    base_settings: Settings, fake_server: tuple[FakeProvider, str], tmp_path: Path
) -> None:
    with TempPostgres() as cluster:
        await migrate(cluster.url)
        pool = await postgres.create_pool(cluster.url, max_size=2)
        pepper = base_settings.key_pepper
        key, _ = await postgres.create_key(pool, project="restart", org="tests", pepper=pepper)
        settings = gateway_settings(base_settings, fake_server[1], tmp_path, database_url=cluster.url)
        async with running_origin(settings) as origin:
            prism = client(origin, key)
            request_ids: list[str] = []
            statuses: list[int] = []

            async def worker(deadline: float) -> None:
                while time.monotonic() < deadline:
                    raw = await prism.chat.completions.with_raw_response.create(model="beta", messages=HELLO)
                    statuses.append(raw.status_code)
                    request_ids.append(raw.headers["x-prism-request-id"])

            spooled_during_outage = 0

            async def outage() -> None:
                nonlocal spooled_during_outage
                await asyncio.sleep(0.7)
                await asyncio.to_thread(cluster.stop)
                for _ in range(10):
                    await asyncio.sleep(0.1)
                    spooled_during_outage = max(spooled_during_outage, origin.state.writer.spool_size)
                await asyncio.to_thread(cluster.start)

            deadline = time.monotonic() + 3.0
            await asyncio.gather(outage(), *(worker(deadline) for _ in range(6)))
            assert statuses and set(statuses) == {200}
            assert spooled_during_outage > 0  # the outage really hit the writer

            writer = origin.state.writer
            await writer.flush()
            for _ in range(100):
                if writer.spool_size == 0 and writer.queue_depth == 0:
                    break
                await asyncio.sleep(0.1)
            assert writer.spool_size == 0

        stored = await pool.fetch("SELECT request_id::text AS id FROM usage_logs")
        await pool.close()
    ids = [row["id"] for row in stored]
    assert len(ids) == len(set(ids)) == len(request_ids)
    assert set(ids) == set(request_ids)
    assert len(request_ids) > 50
