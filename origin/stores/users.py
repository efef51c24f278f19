"""Postgres access for dashboard users, through ``queries/users.sql``."""

from dataclasses import dataclass
from datetime import datetime

from origin.stores.postgres import Pool
from origin.stores.sql import query


@dataclass(frozen=True, slots=True)
class Credentials:
    user_id: str
    org_id: str
    email: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class UserListing:
    email: str
    org_name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Project:
    project_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """A signed-in user as the dashboard sees them: their org and every project of it."""

    user_id: str
    org_id: str
    email: str
    org_name: str
    projects: tuple[Project, ...]

    @property
    def scope(self) -> frozenset[str]:
        return frozenset(project.project_id for project in self.projects)


async def create_user(pool: Pool, *, org: str, email: str, password_hash: str) -> str | None:
    """Create the user (and the org if needed); None when the address is taken, in any case."""
    async with pool.acquire() as conn, conn.transaction():
        org_id = await conn.fetchval(query("upsert_org"), org)
        user_id = await conn.fetchval(query("insert_user"), org_id, email, password_hash)
    return None if user_id is None else str(user_id)


async def find_credentials(pool: Pool, email: str) -> Credentials | None:
    row = await pool.fetchrow(query("user_by_email"), email)
    if row is None:
        return None
    return Credentials(str(row["id"]), str(row["org_id"]), row["email"], row["password_hash"])


async def list_users(pool: Pool, *, org: str | None = None) -> list[UserListing]:
    rows = await pool.fetch(query("list_users"), org)
    return [UserListing(row["email"], row["org_name"], row["created_at"]) for row in rows]


async def remove_user(pool: Pool, email: str) -> bool:
    return await pool.fetchval(query("delete_user"), email) is not None


async def member(pool: Pool, user_id: str, org_id: str) -> Member | None:
    """The user with this id in this org, or None (removed since the cookie was signed)."""
    row = await pool.fetchrow(query("signed_in_user"), user_id, org_id)
    if row is None:
        return None
    projects = tuple(
        Project(pid, name) for pid, name in zip(row["project_ids"], row["project_names"], strict=True)
    )
    return Member(user_id, org_id, row["email"], row["org_name"], projects)
