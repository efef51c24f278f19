"""One usage row per request: opened after auth, settled exactly once, whatever happens."""

import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from origin.cache.exact import CacheEntry
from origin.providers.base import JSON, ModelConfig, Usage
from origin.stores.postgres import KeyRecord
from shared.costs import Costs
from shared.usage import UsageRow

# The work to do once the row is settled, or None when there is none (no task is started then).
Finalizer = Callable[[UsageRow], Coroutine[Any, Any, None] | None]


class Ledger:
    def __init__(
        self,
        key: KeyRecord,
        submit: Callable[[UsageRow], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
    ) -> None:
        self.key = key
        self.row = UsageRow(org_id=key.org_id, project_id=key.project_id, key_id=key.key_id)
        self._submit = submit
        self._spawn = spawn
        self._finalizers: list[Finalizer] = []
        self._started = time.monotonic()
        self.settled = False
        self.answer: JSON | None = None  # the completion served, once known (session memory reads it)

    @property
    def request_id(self) -> str:
        return self.row.request_id

    def after(self, finalizer: Finalizer) -> None:
        """Run ``finalizer(row)`` in the background once the row is settled (budgets, locks, memory)."""
        self._finalizers.append(finalizer)

    def charge(self, model: ModelConfig, usage: Usage) -> None:
        """Record the model that answered and what it cost."""
        cost = usage.cost_cents(model.price)
        self.row.model_used = model.name
        self.row.provider = model.provider
        self.row.tokens_in = usage.tokens_in
        self.row.tokens_out = usage.tokens_out
        self.row.tokens_cached_in = usage.tokens_cached_in
        self.row.tokens_cache_write_5m = usage.tokens_cache_write_5m
        self.row.tokens_cache_write_1h = usage.tokens_cache_write_1h
        self.row.model_version = usage.model_version
        self.row.cost_provider_cents = cost
        self.row.cost_total_cents = cost

    def charge_hit(self, entry: CacheEntry, cache_status: str) -> None:
        """A cached answer: no provider cost; what it saved is what it cost the first time."""
        self.row.cache_status = cache_status
        self.row.model_used = entry.model
        self.row.provider = "cache"
        self.row.tokens_in = entry.tokens_in
        self.row.tokens_out = entry.tokens_out
        self.row.tokens_cached_in = entry.tokens_cached_in
        self.row.cost_provider_cents = 0.0
        self.row.cost_total_cents = 0.0
        self.row.cache_saved_cents = entry.cost_cents

    @property
    def costs(self) -> Costs:
        return Costs(self.row.cost_total_cents, self.row.cache_saved_cents)

    def fail(self, status: int, code: str) -> None:
        self.row.success = False
        self.row.status_code = status
        self.row.error_code = code

    def settle(self) -> None:
        """Submit the row and start the finalizers; later calls do nothing, so every path may call it."""
        if self.settled:
            return
        self.settled = True
        self.row.latency_ms = int((time.monotonic() - self._started) * 1000)
        self._submit(self.row)
        for finalizer in self._finalizers:
            if (work := finalizer(self.row)) is not None:
                self._spawn(work)


# Opens a request's ledger from its key and headers (the edge's forwarding stamp is among them).
Ledgers = Callable[[KeyRecord, Mapping[str, str]], Ledger]
