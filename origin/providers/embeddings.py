"""Embeddings for the semantic cache: an OpenAI-compatible ``/embeddings`` endpoint and its config.

The ``[semantic]`` table of the config file names the provider (one of ``[providers]``, of kind
``openai``: OpenAI itself or any compatible server) and the embedding model::

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
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

import aiohttp

from origin.cache.semantic import (
    DEFAULT_BANDS,
    DEFAULT_MAX_CANDIDATES,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_ROWS,
)
from origin.providers.base import ProviderConfig

EMBEDDINGS_KIND: Final = "openai"


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


def _vector(item: Any) -> list[float]:
    if not isinstance(item, list) or not item:
        raise ValueError("missing embedding")
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in item):
        raise ValueError("non-numeric embedding")
    values = [float(value) for value in item]
    if not all(math.isfinite(value) for value in values):
        raise ValueError("non-finite embedding")
    return values


class EmbeddingsClient:
    """``POST {base_url}/embeddings`` on one provider, over an aiohttp session it owns."""

    def __init__(
        self, provider: ProviderConfig, model: str, *, timeout: float = 2.0, dimensions: int | None = None
    ) -> None:
        if provider.kind != EMBEDDINGS_KIND:
            raise ValueError(
                f"provider {provider.name!r} is of kind {provider.kind!r}: no embeddings endpoint"
            )
        self._provider = provider
        self._url = f"{provider.base_url.rstrip('/')}/embeddings"
        self._headers = {**provider.headers, "Content-Type": "application/json"}
        if provider.api_key:
            self._headers["Authorization"] = f"Bearer {provider.api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._dimensions = dimensions
        self.model = model

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300), timeout=self._timeout
            )
        return self._session

    async def embed(self, text: str) -> list[float]:
        body: dict[str, Any] = {"model": self.model, "input": text, "encoding_format": "float"}
        if self._dimensions is not None:
            body["dimensions"] = self._dimensions
        name = self._provider.name
        try:
            async with self._open_session().post(self._url, json=body, headers=self._headers) as response:
                if response.status != 200:
                    raise EmbeddingsUnavailable(f"embeddings provider {name}: HTTP {response.status}")
                data = await response.json(content_type=None)
            return _vector(data["data"][0]["embedding"])
        except (TimeoutError, aiohttp.ClientError) as error:
            raise EmbeddingsUnavailable(f"embeddings provider {name}: {type(error).__name__}") from None
        except (ValueError, KeyError, IndexError, TypeError):
            raise EmbeddingsUnavailable(f"embeddings provider {name}: malformed answer") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def embeddings_client(config: SemanticConfig, providers: Mapping[str, ProviderConfig]) -> EmbeddingsClient:
    """The client ``[semantic]`` describes; ValueError when its provider is unknown or cannot embed."""
    provider = providers.get(config.provider)
    if provider is None:
        raise ValueError(f"semantic.provider: unknown provider {config.provider!r}")
    return EmbeddingsClient(
        provider, config.model, timeout=config.timeout_seconds, dimensions=config.dimensions
    )
