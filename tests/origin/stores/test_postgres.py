from origin.stores import postgres
from shared.keys import display_prefix, key_hash, looks_like_key

PEPPER = "test-pepper-0123456789"


async def test_create_find_and_revoke_a_key(pool: postgres.Pool) -> None:
    key, record = await postgres.create_key(pool, project="store-test", org="acme", pepper=PEPPER)
    assert looks_like_key(key)
    assert record.active and record.project_name == "store-test" and record.org_name == "acme"
    assert record.prefix == display_prefix(key)

    stored = await pool.fetchval("SELECT key_hash FROM api_keys WHERE id = $1", record.key_id)
    assert stored == key_hash(key, PEPPER) and key not in stored

    found = await postgres.find_key(pool, key_hash(key, PEPPER))
    assert found == record
    assert await postgres.find_key(pool, key_hash(key, PEPPER + "x")) is None

    assert await postgres.revoke_keys(pool, record.prefix) == [
        postgres.Revoked(key_hash(key, PEPPER), record.project_id)
    ]
    revoked = await postgres.find_key(pool, key_hash(key, PEPPER))
    assert revoked is not None and not revoked.active
    assert await postgres.revoke_keys(pool, record.prefix) == []


async def test_same_project_name_reuses_project_and_org(pool: postgres.Pool) -> None:
    _, first = await postgres.create_key(pool, project="shared", org="acme2", pepper=PEPPER)
    _, second = await postgres.create_key(pool, project="shared", org="acme2", pepper=PEPPER)
    _, other_org = await postgres.create_key(pool, project="shared", org="other", pepper=PEPPER)
    assert first.project_id == second.project_id and first.key_id != second.key_id
    assert other_org.project_id != first.project_id
    listed = {item.prefix for item in await postgres.list_keys(pool)}
    assert {first.prefix, second.prefix, other_org.prefix} <= listed


async def test_pool_connections_plan_each_call_and_skip_jit(pool: postgres.Pool) -> None:
    assert await pool.fetchval("SHOW jit") == "off"
    assert await pool.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
