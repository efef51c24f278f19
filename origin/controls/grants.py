"""Publishing what each key may do at the edge (``key:<hash>`` in Workers KV).

A grant carries the project's ``edge_cache`` setting and its controls generation
(``origin.controls.generation``): the edge serves a cached answer only when the answer was made
under the grant's generation. So a project's keys are republished together whenever one of them is
created or revoked, a rule that applies to the project is added or removed, or a setting changes;
and each origin, when it starts (its config may route differently now), republishes the projects
whose generation it has not seen published.

The start-up pass is cheap and safe to run on N origins at once: Redis remembers, per project, the
generation last published by a pass, and a short claim per (project, generation) lets one origin do
each write while the others wait and then find nothing to do. Passes repeat until one finds nothing
stale, which also catches a rule changed while a pass was publishing.
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Final

from origin.controls.generation import controls_generation
from origin.controls.policy import ProjectControls
from origin.stores import controls, postgres
from origin.stores.kv import KVPublisher
from origin.stores.redis_client import RedisClient
from shared.edgekv import KeyGrant

PUBLISHED: Final = "prism:edge:grant-generations"  # hash: project_id → generation a pass published
CLAIM_SECONDS: Final = 30
MAX_PASSES: Final = 6
RETRY_SECONDS: Final = 30.0
log = logging.getLogger("prism.grants")


async def publish_project_grants(
    pool: postgres.Pool, kv: KVPublisher, project_id: str, *, config_digest: str
) -> int:
    """Publish every key of the project now (raising when KV refuses); return how many."""
    if not kv.enabled:
        return 0
    keys = await postgres.keys_of_project(pool, project_id)
    if keys:
        loaded = await controls.load_controls(pool, keys[0].org_id, project_id)
        await _publish(kv, keys, loaded, controls_generation(loaded, config_digest))
    return len(keys)


async def publish_org_grants(pool: postgres.Pool, kv: KVPublisher, org_id: str, *, config_digest: str) -> int:
    """Publish the keys of every project of the org (after an org-wide rule changed)."""
    published = 0
    for project_id in await controls.projects_of_org(pool, org_id):
        published += await publish_project_grants(pool, kv, project_id, config_digest=config_digest)
    return published


async def republish_stale_grants(
    pool: postgres.Pool,
    kv: KVPublisher,
    redis_client: RedisClient,
    *,
    config_digest: str,
    claim_seconds: int = CLAIM_SECONDS,
    max_passes: int = MAX_PASSES,
) -> int:
    """Publish the grants of every edge-cached project whose current generation no pass has
    published yet; return how many projects this call published."""
    if not kv.enabled:
        return 0
    published = 0
    for _ in range(max_passes):
        done, busy = await _pass(pool, kv, redis_client, config_digest, claim_seconds)
        published += done
        if not done and not busy:
            return published
        if busy:
            await asyncio.sleep(claim_seconds / 3)  # another origin is publishing those
    log.warning("edge grants still changing after %d passes; the next start checks again", max_passes)
    return published


async def republish_until_done(
    pool: postgres.Pool, kv: KVPublisher, redis_client: RedisClient, *, config_digest: str
) -> None:
    """The origin's start-up task: ``republish_stale_grants``, retried while a store is unreachable."""
    while True:
        try:
            count = await republish_stale_grants(pool, kv, redis_client, config_digest=config_digest)
        except Exception as error:
            log.warning("cannot republish edge grants yet (%s); retrying", type(error).__name__)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        if count:
            log.info("republished the edge grants of %d projects", count)
        return


async def _pass(
    pool: postgres.Pool, kv: KVPublisher, redis_client: RedisClient, digest: str, claim_seconds: int
) -> tuple[int, bool]:
    done, busy = 0, False
    for org_id, project_id in await controls.edge_cached_projects(pool):
        loaded = await controls.load_controls(pool, org_id, project_id)
        generation = controls_generation(loaded, digest)
        if await redis_client.hget(PUBLISHED, project_id) == generation.encode():
            continue
        claim = f"prism:edge:grant-claim:{project_id}:{generation}"
        if not await redis_client.set(claim, "1", nx=True, ex=claim_seconds):
            busy = True
            continue
        await _publish(kv, await postgres.keys_of_project(pool, project_id), loaded, generation)
        await redis_client.hset(PUBLISHED, project_id, generation)
        done += 1
    return done, busy


async def _publish(
    kv: KVPublisher, keys: Sequence[postgres.ProjectKey], loaded: ProjectControls, generation: str
) -> None:
    for key in keys:
        grant = KeyGrant(
            key_id=key.key_id,
            project_id=key.project_id,
            org_id=key.org_id,
            active=key.active,
            edge_cache=loaded.settings.edge_cache == "global",
            generation=generation,
            expires_at=key.expires_at,
            models=key.models,
            session_memory=loaded.settings.session_memory,
        )
        await kv.publish_key_now(key.key_hash, grant)
