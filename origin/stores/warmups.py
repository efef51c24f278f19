"""The ``prompt_warmups`` table: each project's schedule of prefixes to keep warm, and how it ran."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from origin.stores.postgres import Pool
from origin.stores.sql import query


@dataclass(frozen=True, slots=True)
class Warmup:
    project_id: str
    name: str
    key_id: str
    body: dict[str, Any]
    every_seconds: int
    created_at: datetime
    last_run_at: datetime | None
    last_status: int | None
    runs: int
    missed_runs: int
    overdue: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "cache.warmup",
            "project_id": self.project_id,
            "name": self.name,
            "model": self.body["model"],
            "every_seconds": self.every_seconds,
            "prefix_messages": len(self.body["messages"]),
            "tools": len(self.body.get("tools") or []),
            "created_at": self.created_at.isoformat(),
            "last_run_at": None if self.last_run_at is None else self.last_run_at.isoformat(),
            "last_status": self.last_status,
            "runs": self.runs,
            "missed_runs": self.missed_runs,
            "overdue": self.overdue,
        }


@dataclass(frozen=True, slots=True)
class DueWarmup:
    project_id: str
    name: str
    key_id: str
    body: dict[str, Any]
    missed: int  # whole intervals that went by without a run


async def save(pool: Pool, project_id: str, name: str, key_id: str, body: dict[str, Any], every: int) -> None:
    await pool.fetchrow(query("upsert_warmup"), project_id, name, key_id, json.dumps(body), every)


async def listed(pool: Pool, project_ids: Sequence[str], grace_seconds: float) -> list[Warmup]:
    rows = await pool.fetch(query("list_warmups"), list(project_ids), grace_seconds)
    return [
        Warmup(
            project_id=str(row["project_id"]),
            name=row["name"],
            key_id=str(row["key_id"]),
            body=json.loads(row["body"]),
            every_seconds=row["every_seconds"],
            created_at=row["created_at"],
            last_run_at=row["last_run_at"],
            last_status=row["last_status"],
            runs=row["runs"],
            missed_runs=row["missed_runs"],
            overdue=row["overdue"],
        )
        for row in rows
    ]


async def delete(pool: Pool, project_id: str, name: str) -> bool:
    return await pool.fetchval(query("delete_warmup"), project_id, name) is not None


async def due(pool: Pool, limit: int) -> list[DueWarmup]:
    rows = await pool.fetch(query("due_warmups"), limit)
    return [
        DueWarmup(
            str(row["project_id"]), row["name"], str(row["key_id"]), json.loads(row["body"]), row["missed"]
        )
        for row in rows
    ]


async def record_run(pool: Pool, warmup: DueWarmup, status: int) -> None:
    await pool.execute(query("record_warmup_run"), warmup.project_id, warmup.name, status, warmup.missed)


async def overdue_count(pool: Pool, grace_seconds: float) -> int:
    count: int = await pool.fetchval(query("overdue_warmups"), grace_seconds)
    return count
