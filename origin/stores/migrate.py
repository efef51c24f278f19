"""Apply ``origin/stores/migrations/*.sql`` in order, once each, recorded in ``schema_migrations``."""

from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg

MIGRATION_DIR: Final = Path(__file__).parent / "migrations"
_LOCK_ID: Final = 0x5052_4953  # "PRIS": one migrator at a time across instances


def migration_files(directory: Path = MIGRATION_DIR) -> list[Path]:
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


async def ensure_database(database_url: str) -> bool:
    """Create the URL's database when it does not exist; return True when it was created."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name:
        return False
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()


async def migrate(database_url: str, directory: Path = MIGRATION_DIR) -> list[str]:
    """Apply pending migrations; return the names applied now (empty when up to date)."""
    await ensure_database(database_url)
    conn = await asyncpg.connect(database_url)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for path in migration_files(directory):
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", path.name)
            applied_now.append(path.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
        await conn.close()
    return applied_now
