"""The semantic cache as the pipeline uses it: embed, look up, and later store under the same vector."""

import logging
from dataclasses import asdict, dataclass
from typing import Any

from origin.cache.exact import CacheEntry
from origin.cache.semantic import SemanticCache
from origin.cache.semantic_request import eligible, semantic_scope, semantic_text
from origin.providers.embeddings import EmbeddingsClient, EmbeddingsUnavailable, SemanticConfig

log = logging.getLogger("prism.semantic")


@dataclass(slots=True)
class Probe:
    """One request's place in the semantic cache: its scope, its vector, and what it found."""

    scope: str
    vector: list[float]
    entry: CacheEntry | None = None
    similarity: float = 0.0


class SemanticLayer:
    def __init__(self, cache: SemanticCache, embedder: EmbeddingsClient, config: SemanticConfig) -> None:
        self._cache = cache
        self._embedder = embedder
        self._config = config

    async def probe(
        self, scope: str, model: str, body: dict[str, Any], *, threshold: float, read: bool
    ) -> Probe | None:
        """``None`` when the request does not qualify or embeddings are unavailable: no semantic cache.
        ``scope``: the project, or within it a key or end user (``origin.cache.scope``)."""
        if not eligible(body):
            return None
        try:
            vector = await self._embedder.embed(semantic_text(body["messages"]))
        except EmbeddingsUnavailable as error:
            log.warning("semantic cache skipped", extra={"error": str(error)})
            return None
        probe = Probe(semantic_scope(scope, model, body, embedding_model=self._config.model), vector)
        if read:
            hit = await self._cache.lookup(probe.scope, vector, threshold)
            if hit is not None:
                try:
                    probe.entry = CacheEntry(**hit.entry)
                except TypeError:
                    probe.entry = None
                probe.similarity = hit.similarity
        return probe

    async def store(self, probe: Probe, entry: CacheEntry, ttl_seconds: int) -> list[str]:
        """The Redis keys that hold the stored answer (for erasure)."""
        return await self._cache.store(probe.scope, probe.vector, asdict(entry), ttl_seconds)
