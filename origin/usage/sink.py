"""Where every usage row goes, whichever tier made it: the request counter, the access log, the writer."""

import logging
from collections.abc import Callable

from prometheus_client import Counter

from origin.ops.metrics import Metrics
from shared.usage import BYPASS, MISS, UsageRow

access_log = logging.getLogger("prism.access")


class UsageSink:
    def __init__(self, metrics: Metrics, submit: Callable[[UsageRow], None]) -> None:
        self._metrics = metrics
        self._submit = submit
        # The request counter's children by (status, model): labels() costs four times an inc().
        self._counters: dict[tuple[int, str | None], Counter] = {}
        self._prompt_tokens: dict[str, tuple[Counter, Counter, Counter, Counter]] = {}  # by model

    def record(self, row: UsageRow) -> None:
        counter = self._counters.get((row.status_code, row.model_used))
        if counter is None:
            counter = self._metrics.requests.labels(
                status=str(row.status_code), model=row.model_used or "none"
            )
            self._counters[(row.status_code, row.model_used)] = counter
        counter.inc()
        if row.tokens_in and row.cache_status in (MISS, BYPASS):
            self._count_prompt(row)
        self._submit(row)
        if access_log.isEnabledFor(logging.INFO):  # or its fields would be gathered for nothing
            access_log.info(
                "request",
                extra={
                    "request_id": row.request_id,
                    "status": row.status_code,
                    "model": row.model_used,
                    "cache": row.cache_status,
                    "latency_ms": row.latency_ms,
                    "error_code": row.error_code,
                },
            )

    def _count_prompt(self, row: UsageRow) -> None:
        read, write_5m, write_1h, fresh = self._prompt_counters(row.model_used or "none")
        written = row.tokens_cache_write_5m + row.tokens_cache_write_1h
        counts = (
            (read, row.tokens_cached_in),
            (write_5m, row.tokens_cache_write_5m),
            (write_1h, row.tokens_cache_write_1h),
            (fresh, row.tokens_in - row.tokens_cached_in - written),
        )
        for counter, tokens in counts:
            if tokens > 0:  # most prompts read and write no provider cache: no lock taken for a zero
                counter.inc(tokens)

    def _prompt_counters(self, model: str) -> tuple[Counter, Counter, Counter, Counter]:
        counters = self._prompt_tokens.get(model)
        if counters is None:
            tokens = self._metrics.provider_cache_tokens
            read, write_5m, write_1h, fresh = (
                tokens.labels(model=model, kind=kind) for kind in ("read", "write_5m", "write_1h", "fresh")
            )
            counters = self._prompt_tokens[model] = (read, write_5m, write_1h, fresh)
        return counters
