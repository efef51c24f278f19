"""Helpers for gateway tests: a client, and the usage row a request left behind."""

from typing import Any

import openai

from origin.stores import postgres
from tests.harness import RunningOrigin


def client(origin: RunningOrigin, key: str, **headers: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=origin.url + "/v1", api_key=key, max_retries=0, timeout=20, default_headers=headers or None
    )


async def usage_row(origin: RunningOrigin, pool: postgres.Pool, request_id: str) -> dict[str, Any]:
    rows = await usage_rows(origin, pool, request_id)
    assert len(rows) == 1, f"expected exactly one usage row for {request_id}, found {len(rows)}"
    return rows[0]


async def usage_rows(origin: RunningOrigin, pool: postgres.Pool, request_id: str) -> list[dict[str, Any]]:
    await origin.state.writer.flush()
    records = await pool.fetch("SELECT * FROM usage_logs WHERE request_id = $1", request_id)
    return [dict(record) for record in records]
