"""Postgres access for tenancy and keys, through the named queries in ``queries/``."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias

import asyncpg

from origin.stores.sql import query
from shared.keys import display_prefix, generate_key, key_hash

Pool: TypeAlias = asyncpg.Pool


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What a key grants: its project and org come from here, never from a header."""

    key_id: str
    status: str
    prefix: str
    project_id: str
    project_name: str
    org_id: str
    org_name: str
    # Epoch seconds rather than datetimes: the record is cached in Redis as JSON.
    revoked_at: float | None = None
    # The key's own limits (None, or no models: only the project's apply).
    budget_cents: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    models: tuple[str, ...] = ()
    expires_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "KeyRecord":
        return cls(**{**data, "models": tuple(data.get("models") or ())})


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """What ``prism keys create`` may set on a key besides its project."""

    budget_cents: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    models: tuple[str, ...] = ()
    expires_at: datetime | None = None

    def describe(self) -> str:
        parts = [
            f"budget {self.budget_cents}¢/month" if self.budget_cents else "",
            f"{self.rpm} rpm" if self.rpm else "",
            f"{self.tpm} tpm" if self.tpm else "",
            f"models {','.join(self.models)}" if self.models else "",
            f"expires {self.expires_at:%Y-%m-%d %H:%M}Z" if self.expires_at else "",
        ]
        return "; ".join(part for part in parts if part) or "no limits of its own"


@dataclass(frozen=True, slots=True)
class KeyListing:
    prefix: str
    status: str
    project_name: str
    org_name: str
    created_at: datetime
    revoked_at: datetime | None
    limits: KeyLimits = KeyLimits()

    @property
    def current_status(self) -> str:
        """``active``, ``revoked``, or ``expired`` for an active key past its expiry."""
        expires = self.limits.expires_at
        if self.status == "active" and expires is not None and expires <= datetime.now(UTC):
            return "expired"
        return self.status


# The usage reports take windows from an hour to 90 days and one project or a whole org: a plan made
# for each call's own parameters (custom) is 2-5x faster than the generic one Postgres otherwise
# settles on after five calls, for well under a millisecond of planning. JIT compiling pays off for
# long analytic scans, not for these short queries whose row estimates can be far too high (a 30-day
# sessions list spent 20 ms of 77 ms on it).
SERVER_SETTINGS: Final = {"jit": "off", "plan_cache_mode": "force_custom_plan"}


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, server_settings=SERVER_SETTINGS
    )
    assert pool is not None
    return pool


async def create_key(
    pool: Pool, *, project: str, org: str, pepper: str, limits: KeyLimits = KeyLimits()
) -> tuple[str, KeyRecord]:
    """Create a key (and its project and org if needed); the plain key is returned only here."""
    key = generate_key()
    async with pool.acquire() as conn, conn.transaction():
        org_id = await conn.fetchval(query("upsert_org"), org)
        project_id = await conn.fetchval(query("upsert_project"), org_id, project)
        await conn.fetchval(
            query("insert_key"),
            key_hash(key, pepper),
            display_prefix(key),
            project_id,
            limits.budget_cents,
            limits.rpm,
            limits.tpm,
            list(limits.models),
            limits.expires_at,
        )
    record = await find_key(pool, key_hash(key, pepper))
    assert record is not None
    return key, record


async def find_key(pool: Pool, hashed: str) -> KeyRecord | None:
    return _key_record(await pool.fetchrow(query("key_by_hash"), hashed))


async def find_key_by_id(pool: Pool, key_id: str) -> KeyRecord | None:
    return _key_record(await pool.fetchrow(query("key_by_id"), key_id))


def _key_record(row: asyncpg.Record | None) -> KeyRecord | None:
    if row is None:
        return None
    return KeyRecord(
        key_id=str(row["key_id"]),
        status=row["status"],
        prefix=row["prefix"],
        project_id=str(row["project_id"]),
        project_name=row["project_name"],
        org_id=str(row["org_id"]),
        org_name=row["org_name"],
        revoked_at=None if row["revoked_at"] is None else row["revoked_at"].timestamp(),
        budget_cents=row["budget_cents"],
        rpm=row["rpm"],
        tpm=row["tpm"],
        models=tuple(row["models"]),
        expires_at=None if row["expires_at"] is None else row["expires_at"].timestamp(),
    )


def _limits(row: asyncpg.Record) -> KeyLimits:
    return KeyLimits(row["budget_cents"], row["rpm"], row["tpm"], tuple(row["models"]), row["expires_at"])


async def list_keys(pool: Pool) -> list[KeyListing]:
    rows = await pool.fetch(query("list_keys"))
    return [
        KeyListing(
            prefix=row["prefix"],
            status=row["status"],
            project_name=row["project_name"],
            org_name=row["org_name"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
            limits=_limits(row),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Revoked:
    key_hash: str
    project_id: str


async def revoke_keys(pool: Pool, prefix: str) -> list[Revoked]:
    """Revoke the active keys with this display prefix."""
    rows = await pool.fetch(query("revoke_keys_by_prefix"), prefix)
    return [Revoked(row["key_hash"], str(row["project_id"])) for row in rows]


@dataclass(frozen=True, slots=True)
class ProjectKey:
    key_id: str
    key_hash: str
    active: bool
    project_id: str
    org_id: str
    models: tuple[str, ...] = ()
    expires_at: float | None = None


async def keys_of_project(pool: Pool, project_id: str) -> list[ProjectKey]:
    rows = await pool.fetch(query("keys_of_project"), project_id)
    return [
        ProjectKey(
            str(r["key_id"]),
            r["key_hash"],
            r["status"] == "active",
            str(r["project_id"]),
            str(r["org_id"]),
            tuple(r["models"]),
            None if r["expires_at"] is None else r["expires_at"].timestamp(),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class KeyMonth:
    requests: int
    cost_cents: float


async def key_month_usage(pool: Pool, key_id: str) -> KeyMonth:
    row = await pool.fetchrow(query("key_month_usage"), key_id)
    assert row is not None
    return KeyMonth(row["requests"], float(row["cost_cents"]))
