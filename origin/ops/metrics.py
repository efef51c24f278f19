"""Prometheus metrics, in a registry owned by the app state (no process-global registry)."""

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from origin.providers.breakers import BreakerState


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "prism_requests",
            "Requests answered, by status and model.",
            ["status", "model"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "prism_upstream_latency_seconds",
            "Time to the upstream's answer (first event when streaming).",
            ["provider", "model"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.upstream_failures = Counter(
            "prism_upstream_failures", "Failed upstream attempts.", ["model", "kind"], registry=self.registry
        )
        self.fallbacks = Counter(
            "prism_fallbacks", "Requests answered by a later candidate.", ["model"], registry=self.registry
        )
        self.breaker_state = Gauge(
            "prism_breaker_state",
            "Circuit state per model: 0 closed, 1 open, 2 half-open.",
            ["model"],
            registry=self.registry,
        )
        self.coalesced = Counter(
            "prism_singleflight_coalesced",
            "Requests served by another identical request's upstream call (single-flight).",
            registry=self.registry,
        )
        self.prefix_flights = Counter(
            "prism_prefix_flights",
            "Requests with a long prompt prefix, by what prefix single-flight did: warm (went at once),"
            " lead (wrote it), waited (for the leader's answer), timeout (waited out the bound).",
            ["outcome"],
            registry=self.registry,
        )
        self.provider_cache_tokens = Counter(
            "prism_provider_cache_tokens",
            "Prompt tokens of provider-answered requests, by model and what the provider's prompt cache"
            " did with them: read, write_5m, write_1h, or fresh (neither).",
            ["model", "kind"],
            registry=self.registry,
        )
        self.warmup_runs = Counter(
            "prism_warmup_runs",
            "Prompt-prefix warm-ups sent by this instance, by outcome: ok, or failed (an error status).",
            ["outcome"],
            registry=self.registry,
        )
        self.warmup_missed_runs = Counter(
            "prism_warmup_missed_runs",
            "Whole intervals that went by without a warm-up's run, counted when it ran again.",
            registry=self.registry,
        )
        self.warmups_overdue = Gauge(
            "prism_warmups_overdue",
            "Warm-ups whose last run is older than their interval and the takeover grace.",
            registry=self.registry,
        )
        self.warmup_leader = Gauge(
            "prism_warmup_leader", "1 when this instance holds the warm-up lease.", registry=self.registry
        )
        self.usage_queue_depth = Gauge(
            "prism_usage_queue_depth", "Usage rows waiting for the writer.", registry=self.registry
        )
        self.usage_spool_rows = Gauge(
            "prism_usage_spool_rows",
            "Usage rows spooled to disk, waiting for Postgres.",
            registry=self.registry,
        )

    def render(
        self,
        breaker_states: Callable[[], dict[str, BreakerState]],
        queue_depth: int,
        spool_rows: int,
    ) -> bytes:
        for model, state in breaker_states().items():
            self.breaker_state.labels(model=model).set(state.value)
        self.usage_queue_depth.set(queue_depth)
        self.usage_spool_rows.set(spool_rows)
        return generate_latest(self.registry)
