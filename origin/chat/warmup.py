"""Warm-ups that cannot be orphaned: a project's chosen prompt prefixes kept in the providers' caches.

A warm-up is a prefix (a model, its system messages and tools) and an interval, stored per project
(``origin/stores/warmups.py``). Every origin instance ticks; the one that holds the Redis lease sends
each due warm-up through the pipeline as the key that made it: a one-token question after the prefix,
so the provider reads (and so keeps) or writes the prefix, with the same routing, breakpoints, budget
and usage row as traffic (tagged ``prism=warmup``). No host or colour of a blue/green pair owns the
job: when the holder stops, another instance takes the lease on its next tick. A run that did not
happen shows twice: ``missed_runs`` on the warm-up (whole intervals without a run), and
``prism_warmups_overdue`` on every instance's ``/metrics`` while one is late.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.datastructures import Headers
from starlette.responses import Response

from origin.chat.request import Incoming
from origin.ops.lease import Lease
from origin.ops.metrics import Metrics
from origin.ops.periodic import Periodic
from origin.stores import postgres, warmups
from origin.stores.postgres import KeyRecord
from origin.stores.warmups import DueWarmup
from shared.request import own_request_headers

QUESTION: Final = "Reply with OK."
BATCH: Final = 20
log = logging.getLogger("prism.warmup")

Serve = Callable[[KeyRecord, Incoming], Awaitable[Response]]


def warmup_body(prefix: dict[str, Any]) -> dict[str, Any]:
    """The request a warm-up sends: its prefix, then a question whose answer is one token."""
    return {
        **prefix,
        "messages": [*prefix["messages"], {"role": "user", "content": QUESTION}],
        "max_tokens": 1,
    }


def warmup_headers(name: str) -> Headers:
    return Headers(own_request_headers({"prism": "warmup", "warmup": name}))


class WarmupScheduler:
    def __init__(
        self,
        pool: postgres.Pool,
        lease: Lease,
        serve: Serve,
        metrics: Metrics,
        *,
        tick_seconds: float,
        grace_seconds: float,
    ) -> None:
        self._pool = pool
        self._lease = lease
        self._serve = serve
        self._metrics = metrics
        self._tick_seconds = tick_seconds
        self._grace_seconds = grace_seconds
        self._ticking = Periodic(
            "warmups", self.tick, every=tick_seconds, retry_after=tick_seconds, wait_first=True
        )

    def start(self) -> None:
        if self._tick_seconds > 0:
            self._ticking.start()

    async def stop(self) -> None:
        """Stop ticking and hand the lease over at once (a blue/green switch waits for no expiry)."""
        await self._ticking.stop()
        await self._lease.release()

    async def tick(self) -> int:
        """Count the overdue warm-ups; run the due ones when this instance holds the lease. Returns
        how many ran."""
        overdue = await warmups.overdue_count(self._pool, self._grace_seconds)
        self._metrics.warmups_overdue.set(overdue)
        leading = await self._lease.hold()
        self._metrics.warmup_leader.set(int(leading))
        if not leading:
            return 0
        due = await warmups.due(self._pool, BATCH)
        for warmup in due:
            status = await self._run_one(warmup)
            await warmups.record_run(self._pool, warmup, status)
            self._metrics.warmup_runs.labels(outcome="ok" if status < 400 else "failed").inc()
            self._metrics.warmup_missed_runs.inc(warmup.missed)
        return len(due)

    async def _run_one(self, warmup: DueWarmup) -> int:
        key = await postgres.find_key_by_id(self._pool, warmup.key_id)
        if key is None or not key.active:
            return 401
        body = warmup_body(warmup.body)

        async def read_json() -> Any:
            return body

        response = await self._serve(key, Incoming(warmup_headers(warmup.name), read_json))
        return response.status_code
