"""Every ``X-Prism-*`` header name, written once."""

from typing import Final

MODE: Final = "X-Prism-Mode"
MODEL_PREFER: Final = "X-Prism-Model-Prefer"
SESSION: Final = "X-Prism-Session"
TAGS: Final = "X-Prism-Tags"
MEMORY: Final = "X-Prism-Memory"
CACHE_TTL: Final = "X-Prism-Cache-TTL"
SEMANTIC: Final = "X-Prism-Semantic"
CACHE_CONTROL: Final = "Cache-Control"

# Every request header Prism reads, in the order its parsers report errors (``shared.request``).
# The parity test sends valid and invalid values of each through both tiers.
REQUEST_HEADERS: Final = (SESSION, MODE, MODEL_PREFER, MEMORY, CACHE_TTL, SEMANTIC, TAGS, CACHE_CONTROL)

EDGE_CACHE: Final = "X-Prism-Edge-Cache"
EDGE_REGION: Final = "X-Prism-Edge-Region"
# Set by the edge on what it forwards (``shared.edge_forwarded``); never passed on from a client.
EDGE_FORWARDED: Final = "X-Prism-Edge-Forwarded"
CACHE: Final = "X-Prism-Cache"
REQUEST_ID: Final = "X-Prism-Request-Id"
MODEL: Final = "X-Prism-Model"
PROVIDER: Final = "X-Prism-Provider"
SIMILARITY: Final = "X-Prism-Similarity"
COST_CENTS: Final = "X-Prism-Cost-Cents"
SAVED_CENTS: Final = "X-Prism-Saved-Cents"

INGEST_SIGNATURE: Final = "X-Prism-Signature"
INGEST_TIMESTAMP: Final = "X-Prism-Timestamp"

MODES: Final = ("cheap", "balanced", "quality")
DEFAULT_MODE: Final = "balanced"
