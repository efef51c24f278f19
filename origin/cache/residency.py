"""Where a project's cached data lives: which stores hold what, for how long, and whether it leaves
the origin's region. Prompts are never kept anywhere else: the usage log holds no prompt text."""

from typing import Any, Final

from origin.controls.policy import ProjectSettings
from origin.settings import Settings
from origin.stores.redis_client import display_address

EVERY_POP: Final = "every Cloudflare PoP"


def residency(
    project_id: str,
    project: ProjectSettings,
    settings: Settings,
    *,
    semantic: bool,
    kv_enabled: bool,
    memory_ttl_seconds: int,
    indexed: int,
) -> dict[str, Any]:
    """The residency report (``GET /v1/cache/residency``, ``prism cache residency``)."""
    region = settings.region or "unset (PRISM_REGION)"
    ttl = project.cache_ttl_seconds
    if project.cache_max_ttl_seconds is not None:
        ttl = min(ttl, project.cache_max_ttl_seconds)
    redis_holds = ["exact answers"] + (["semantic answers"] if semantic else [])
    redis_holds += ["session memory"] if project.session_memory else []
    stores: list[dict[str, Any]] = [
        {
            "store": "redis",
            "address": display_address(settings.redis_url),
            "region": region,
            "holds": redis_holds,
            "ttl_seconds": {
                "answers": ttl,
                "longest_asked": project.cache_max_ttl_seconds,
                "memory": memory_ttl_seconds,
            },
        }
    ]
    if settings.local_cache_seconds > 0:
        stores.append(
            {
                "store": "origin memory",
                "region": region,
                "holds": ["exact answers"],
                "ttl_seconds": {"answers": min(settings.local_cache_seconds, ttl)},
            }
        )
    leaves = kv_enabled and project.edge_cache == "global" and project.cache_scope == "project"
    if leaves:
        stores.append(
            {
                "store": "workers kv",
                "region": EVERY_POP,
                "holds": ["exact answers"],
                "ttl_seconds": {"answers": ttl},
            }
        )
    return {
        "project_id": project_id,
        "region": region,
        "scope": project.cache_scope,
        "pii_guard": project.pii_guard,
        "leaves_region": leaves,
        "stores": stores,
        "entries_indexed": indexed,
    }
