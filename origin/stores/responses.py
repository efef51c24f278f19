"""The ``responses`` table: stored Responses, per project, for as long as the retention keeps them.

Every call is bounded in time: a frozen Postgres is an error the caller turns into a status, never
a request that hangs.
"""

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final, TypeVar

import asyncpg
import orjson

from origin.providers.base import JSON
from origin.stores.postgres import Pool
from origin.stores.sql import query

UNAVAILABLE: Final = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
MAX_CHAIN: Final = 1000  # responses back along ``previous_response_id``
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    project_id: str
    key_id: str
    previous_response_id: str | None
    input_items: list[JSON]
    response: JSON


class ResponseStore:
    def __init__(self, pool: Pool, *, retention_seconds: float, timeout_seconds: float = 2.0) -> None:
        self._pool = pool
        self._retention = retention_seconds
        self._timeout = timeout_seconds

    async def _bounded(self, call: Awaitable[T]) -> T:
        async with asyncio.timeout(self._timeout):
            return await call

    async def save(self, stored: StoredResponse) -> None:
        response = stored.response
        await self._bounded(
            self._pool.execute(
                query("insert_response"),
                response["id"],
                stored.project_id,
                stored.key_id,
                stored.previous_response_id,
                orjson.dumps(stored.input_items).decode(),
                orjson.dumps(response["output"]).decode(),
                orjson.dumps(response).decode(),
                self._retention,
            )
        )

    async def get(self, project_id: str, response_id: str) -> JSON | None:
        text = await self._bounded(self._pool.fetchval(query("response_by_id"), response_id, project_id))
        return None if text is None else orjson.loads(text)

    async def input_items(self, project_id: str, response_id: str) -> list[JSON] | None:
        """The items the response was asked with, in order; ``None``: no such response."""
        text = await self._bounded(
            self._pool.fetchval(query("response_input_items"), response_id, project_id)
        )
        return None if text is None else orjson.loads(text)

    async def delete(self, project_id: str, response_id: str) -> str | None:
        """The id of the response deleted; ``None``: no such response."""
        deleted: str | None = await self._bounded(
            self._pool.fetchval(query("delete_response"), response_id, project_id)
        )
        return deleted

    async def conversation(self, project_id: str, response_id: str) -> list[JSON] | None:
        """Every item of the chain that ends at ``response_id``, oldest first; ``None``: no such response."""
        rows = await self._bounded(
            self._pool.fetch(query("response_chain"), response_id, project_id, MAX_CHAIN)
        )
        if not rows:
            return None
        items: list[JSON] = []
        for row in rows:
            items += orjson.loads(row["input_items"])
            items += orjson.loads(row["output_items"])
        return items
