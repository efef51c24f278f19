"""The in-process controls cache, on the real test database with an injected clock."""

import asyncio
import logging
import uuid

from origin.controls.cache import ControlsCache
from origin.controls.policy import DEFAULT_CONTROLS, ProjectControls, ProjectSettings
from origin.stores import controls, postgres
from origin.stores.controls import ProjectRef
from tests.clock import Clock

PEPPER = "test-pepper-0123456789"


class CountingLoader:
    """``load_controls`` that counts its queries and can be held open to make callers overlap."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, pool: postgres.Pool, org_id: str, project_id: str) -> ProjectControls:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return await controls.load_controls(pool, org_id, project_id)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record)


async def _project(pool: postgres.Pool) -> ProjectRef:
    org, project = f"org-{uuid.uuid4().hex[:8]}", "cached"
    await postgres.create_key(pool, project=project, org=org, pepper=PEPPER)
    ref = await controls.find_project(pool, org=org, project=project)
    assert ref is not None
    return ref


async def test_entries_live_for_the_ttl_then_changes_show(pool: postgres.Pool) -> None:
    ref = await _project(pool)
    clock, loader = Clock(), CountingLoader()
    cache = ControlsCache(pool, ttl_seconds=3.0, clock=clock, loader=loader)
    assert await cache.get(ref.org_id, ref.project_id) == DEFAULT_CONTROLS

    rule = await controls.add_policy(
        pool, org_id=ref.org_id, project_id=ref.project_id, effect="deny", target="model", pattern="gpt-4*"
    )
    await controls.update_project_settings(pool, ref.project_id, {"rpm_limit": 30})
    clock.now += 2.9
    cached = await cache.get(ref.org_id, ref.project_id)
    assert cached == DEFAULT_CONTROLS and loader.calls == 1

    clock.now += 0.2  # 3.1 s after the first load started
    fresh = await cache.get(ref.org_id, ref.project_id)
    assert loader.calls == 2
    assert [item.id for item in fresh.policies.rules] == [rule]
    assert fresh.settings == ProjectSettings(rpm_limit=30)
    assert await cache.get(ref.org_id, ref.project_id) is fresh and loader.calls == 2


async def test_invalidate_forces_a_reload(pool: postgres.Pool) -> None:
    ref = await _project(pool)
    loader = CountingLoader()
    cache = ControlsCache(pool, clock=Clock(), loader=loader)
    await cache.get(ref.org_id, ref.project_id)
    cache.invalidate(ref.org_id, ref.project_id)
    await cache.get(ref.org_id, ref.project_id)
    assert loader.calls == 2


async def test_concurrent_gets_share_one_query(pool: postgres.Pool) -> None:
    ref = await _project(pool)
    await controls.update_project_settings(pool, ref.project_id, {"edge_cache": "off"})
    loader = CountingLoader()
    loader.gate = asyncio.Event()
    cache = ControlsCache(pool, clock=Clock(), loader=loader)
    waiting = [asyncio.create_task(cache.get(ref.org_id, ref.project_id)) for _ in range(20)]
    await asyncio.sleep(0.01)
    loader.gate.set()
    results = await asyncio.gather(*waiting)
    assert loader.calls == 1
    assert all(result is results[0] for result in results)
    assert results[0].settings.edge_cache == "off"


async def test_a_cancelled_caller_does_not_cancel_the_shared_load(pool: postgres.Pool) -> None:
    ref = await _project(pool)
    loader = CountingLoader()
    loader.gate = asyncio.Event()
    cache = ControlsCache(pool, clock=Clock(), loader=loader)
    first = asyncio.create_task(cache.get(ref.org_id, ref.project_id))
    second = asyncio.create_task(cache.get(ref.org_id, ref.project_id))
    await asyncio.sleep(0.01)
    first.cancel()
    loader.gate.set()
    assert await second == DEFAULT_CONTROLS
    assert loader.calls == 1


async def test_postgres_unreachable_serves_last_known_or_defaults(migrated: str, pool: postgres.Pool) -> None:
    known, never_loaded = await _project(pool), await _project(pool)
    await controls.update_project_settings(pool, known.project_id, {"memory_token_budget": 111})
    await controls.update_project_settings(pool, never_loaded.project_id, {"memory_token_budget": 222})
    own_pool = await postgres.create_pool(migrated, max_size=2)
    clock, loader = Clock(), CountingLoader()
    cache = ControlsCache(own_pool, ttl_seconds=3.0, clock=clock, loader=loader)
    loaded = await cache.get(known.org_id, known.project_id)
    assert loaded.settings.memory_token_budget == 111
    await own_pool.close()  # every further load fails

    clock.now += 60
    logger, records = logging.getLogger("prism.controls"), Records()
    logger.addHandler(records)  # not caplog: "prism" stops propagating once an app configured logging
    try:
        assert await cache.get(known.org_id, known.project_id) is loaded
        assert await cache.get(never_loaded.org_id, never_loaded.project_id) == DEFAULT_CONTROLS
        clock.now += 60
        assert await cache.get(known.org_id, known.project_id) is loaded
        assert await cache.get(never_loaded.org_id, never_loaded.project_id) == DEFAULT_CONTROLS
    finally:
        logger.removeHandler(records)
    assert loader.calls == 5  # a failed load is retried once per ttl, not on every request
    warnings = [record.getMessage() for record in records.seen if record.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "InterfaceError" in warnings[0] and never_loaded.project_id in warnings[1]


async def test_a_hung_load_times_out_to_the_last_known_value(pool: postgres.Pool) -> None:
    ref = await _project(pool)
    clock, loader = Clock(), CountingLoader()
    cache = ControlsCache(pool, clock=clock, loader=loader, load_timeout_seconds=0.05)
    loaded = await cache.get(ref.org_id, ref.project_id)
    loader.gate = asyncio.Event()  # never set: the next load hangs
    clock.now += 10
    assert await cache.get(ref.org_id, ref.project_id) is loaded
