"""Embeddings for the semantic cache: an OpenAI-compatible ``/embeddings`` endpoint and its config.

The ``[semantic]`` table of the config file names the provider (one of ``[providers]`` whose adapter
can embed: kind ``openai``, OpenAI itself or any compatible server) and the embedding model::

    [semantic]
    provider = "openai"
    model = "text-embedding-3-small"
    threshold = 0.92          # cosine similarity a rephrasing must reach
    ttl_seconds = 3600
    dimensions = 256          # optional: shorter vectors from models that can (text-embedding-3-*)

When the endpoint fails or is slow, ``embed`` raises ``EmbeddingsUnavailable`` and the gateway
simply skips the semantic cache for that request.
"""

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from origin.cache.semantic import (
    DEFAULT_BANDS,
    DEFAULT_MAX_CANDIDATES,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_ROWS,
)
from origin.ops.metrics import Metrics
from origin.providers import adapter_for
from origin.providers.base import ProviderConfig
from origin.providers.breakers import Breakers, Permit
from origin.providers.upstream import Upstream, UpstreamFailure


class EmbeddingsUnavailable(Exception):
    """No embedding this time; the message names the provider and the failure, never the text."""


@dataclass(frozen=True, slots=True)
class SemanticConfig:
    provider: str
    model: str
    threshold: float = 0.92
    ttl_seconds: int = 3600
    bands: int = DEFAULT_BANDS
    rows: int = DEFAULT_ROWS
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_candidates: int = DEFAULT_MAX_CANDIDATES
    timeout_seconds: float = 2.0
    dimensions: int | None = None


_INT_RANGES: Final = {
    "ttl_seconds": (1, 30 * 24 * 3600),
    "bands": (1, 64),
    "rows": (1, 32),
    "max_entries": (1, 10_000_000),
    "max_candidates": (1, 100_000),
    "dimensions": (1, 8192),
}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"semantic.{name} must be a number, not {value!r}")
    return float(value)


def parse_semantic_config(raw: Mapping[str, Any] | None) -> SemanticConfig | None:
    """The ``[semantic]`` table, or None when there is none. ValueError names the bad entry."""
    if raw is None:
        return None
    known = {field.name for field in fields(SemanticConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"semantic: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for name in ("provider", "model"):
        text = raw.get(name)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"semantic.{name} must be a non-empty string")
        values[name] = text.strip()
    if "threshold" in raw:
        values["threshold"] = _number("threshold", raw["threshold"])
        if not 0 < values["threshold"] <= 1:
            raise ValueError(f"semantic.threshold must be in (0, 1], not {raw['threshold']!r}")
    if "timeout_seconds" in raw:
        values["timeout_seconds"] = _number("timeout_seconds", raw["timeout_seconds"])
        if not 0 < values["timeout_seconds"] <= 60:
            raise ValueError(f"semantic.timeout_seconds must be in (0, 60], not {raw['timeout_seconds']!r}")
    for name, (low, high) in _INT_RANGES.items():
        if name not in raw:
            continue
        value = raw[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"semantic.{name} must be a whole number from {low} to {high}, not {value!r}")
        values[name] = value
    return SemanticConfig(**values)


class EmbeddingsClient:
    """Embeddings from one provider through its adapter, over the shared ``Upstream`` (sessions,
    timeouts), behind a breaker of its own and counted in the upstream metrics like chat."""

    def __init__(
        self,
        upstream: Upstream,
        breakers: Breakers,
        metrics: Metrics,
        provider: ProviderConfig,
        model: str,
        *,
        timeout: float = 2.0,
        dimensions: int | None = None,
    ) -> None:
        self._adapter = adapter_for(provider.kind)
        # Built once, also to learn at startup whether this provider can embed at all.
        self._adapter.embeddings_request("", model, provider, dimensions=dimensions)
        self._upstream = upstream
        self._breakers = breakers
        self._metrics = metrics
        self._provider = provider
        self._timeout = timeout
        self._dimensions = dimensions
        self._circuit = f"embeddings:{model}"
        self.model = model

    async def embed(self, text: str) -> list[float]:
        name = self._provider.name
        permit = self._breakers.permit(self._circuit)
        if permit is Permit.DENIED:
            raise EmbeddingsUnavailable(f"embeddings provider {name}: circuit open")
        request = self._adapter.embeddings_request(
            text, self.model, self._provider, dimensions=self._dimensions
        )
        started = time.monotonic()
        try:
            data = await self._upstream.complete(
                name, request, self._adapter.error_message, deadline=self._timeout
            )
            vector = self._adapter.embeddings_response(data)
        except UpstreamFailure as failure:
            self._metrics.upstream_failures.labels(model=self.model, kind=failure.kind).inc()
            if not failure.client_fault:
                self._breakers.record_failure(self._circuit)
            reason = f"HTTP {failure.status}" if failure.kind == "status" else failure.kind
            raise EmbeddingsUnavailable(f"embeddings provider {name}: {reason}") from None
        except ValueError:
            self._metrics.upstream_failures.labels(model=self.model, kind="protocol").inc()
            self._breakers.record_failure(self._circuit)
            raise EmbeddingsUnavailable(f"embeddings provider {name}: malformed answer") from None
        finally:
            if permit is Permit.PROBE:
                self._breakers.release(self._circuit)
        self._breakers.record_success(self._circuit)
        self._metrics.upstream_latency.labels(provider=name, model=self.model).observe(
            time.monotonic() - started
        )
        return vector


def embeddings_client(
    config: SemanticConfig,
    providers: Mapping[str, ProviderConfig],
    upstream: Upstream,
    breakers: Breakers,
    metrics: Metrics,
) -> EmbeddingsClient:
    """The client ``[semantic]`` describes; ValueError when its provider is unknown or cannot embed."""
    provider = providers.get(config.provider)
    if provider is None:
        raise ValueError(f"semantic.provider: unknown provider {config.provider!r}")
    return EmbeddingsClient(
        upstream,
        breakers,
        metrics,
        provider,
        config.model,
        timeout=config.timeout_seconds,
        dimensions=config.dimensions,
    )
