import asyncpg

from origin.stores.migrate import migrate, migration_files


async def test_migrations_apply_once_and_are_recorded(migrated: str) -> None:
    assert await migrate(migrated) == []
    conn = await asyncpg.connect(migrated)
    try:
        versions = [
            row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        ]
        tables = {
            row["tablename"]
            for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        indexes = {
            row["indexname"]
            for row in await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'usage_logs'")
        }
    finally:
        await conn.close()
    assert versions == [path.name for path in migration_files()]
    assert {"orgs", "projects", "api_keys", "usage_logs", "schema_migrations"} <= tables
    assert {"usage_logs_project_keyset", "usage_logs_session", "usage_logs_tags"} <= indexes
