"""Where every usage row goes, whichever tier made it: the request counter, the access log, the writer."""

import logging
from collections.abc import Callable

from origin.ops.metrics import Metrics
from shared.usage import UsageRow

access_log = logging.getLogger("prism.access")


class UsageSink:
    def __init__(self, metrics: Metrics, submit: Callable[[UsageRow], None]) -> None:
        self._metrics = metrics
        self._submit = submit

    def record(self, row: UsageRow) -> None:
        self._metrics.requests.labels(status=str(row.status_code), model=row.model_used or "none").inc()
        self._submit(row)
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
