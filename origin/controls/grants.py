"""Publishing what each key may do at the edge (``key:<hash>`` in Workers KV).

A project's keys are republished together whenever one of them is created or revoked or the
project's ``edge_cache`` setting changes: the grant carries that setting, so the edge stops serving
the project from KV as soon as the new grants reach its PoP.
"""

from origin.stores import controls, postgres
from origin.stores.kv import KVPublisher
from shared.edgekv import KeyGrant


async def publish_project_grants(pool: postgres.Pool, kv: KVPublisher, project_id: str) -> int:
    """Publish every key of the project now (raising when KV refuses); return how many."""
    if not kv.enabled:
        return 0
    settings = await controls.get_project_settings(pool, project_id)
    keys = await postgres.keys_of_project(pool, project_id)
    for key in keys:
        grant = KeyGrant(
            key_id=key.key_id,
            project_id=key.project_id,
            org_id=key.org_id,
            active=key.active,
            edge_cache=settings.edge_cache == "global",
        )
        await kv.publish_key_now(key.key_hash, grant)
    return len(keys)
