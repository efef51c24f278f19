"""One usage row per request: opened after auth, settled exactly once, whatever happens."""

import time
from collections.abc import Callable

from origin.providers.base import ModelConfig, Usage
from origin.stores.postgres import KeyRecord
from shared.usage import UsageRow


class Ledger:
    def __init__(self, key: KeyRecord, submit: Callable[[UsageRow], None]) -> None:
        self.row = UsageRow(org_id=key.org_id, project_id=key.project_id, key_id=key.key_id)
        self._submit = submit
        self._started = time.monotonic()
        self.settled = False

    @property
    def request_id(self) -> str:
        return self.row.request_id

    def charge(self, model: ModelConfig, usage: Usage) -> None:
        """Record the model that answered and what it cost."""
        cost = usage.cost_cents(model.price)
        self.row.model_used = model.name
        self.row.provider = model.provider
        self.row.tokens_in = usage.tokens_in
        self.row.tokens_out = usage.tokens_out
        self.row.tokens_cached_in = usage.tokens_cached_in
        self.row.cost_provider_cents = cost
        self.row.cost_total_cents = cost

    def fail(self, status: int, code: str) -> None:
        self.row.success = False
        self.row.status_code = status
        self.row.error_code = code

    def settle(self) -> None:
        """Submit the row; later calls do nothing, so every path may call it."""
        if self.settled:
            return
        self.settled = True
        self.row.latency_ms = int((time.monotonic() - self._started) * 1000)
        self._submit(self.row)
