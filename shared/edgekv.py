"""Workers KV: the entry names and the JSON the origin writes and the edge reads (one format, here).

- ``key:<key_hash>`` → ``KeyGrant``: what a key may do at the edge.
- ``cache:<fingerprint>`` → ``EdgeCacheEntry``: a cached answer, written with the entry's TTL.
- ``deadletter:<request_id>`` → a signed usage envelope the edge could not deliver (the only thing
  the edge writes); the origin sweeps and ingests them.
"""

import json
from dataclasses import asdict, dataclass
from typing import Any, Final

KEY_PREFIX: Final = "key:"
CACHE_PREFIX: Final = "cache:"
DEAD_LETTER_PREFIX: Final = "deadletter:"


def key_name(key_hash: str) -> str:
    return KEY_PREFIX + key_hash


def cache_name(fp: str) -> str:
    return CACHE_PREFIX + fp


def dead_letter_name(request_id: str) -> str:
    return DEAD_LETTER_PREFIX + request_id


def _load(text: str | bytes, what: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object")
    return data


@dataclass(frozen=True, slots=True)
class KeyGrant:
    key_id: str
    project_id: str
    org_id: str
    active: bool
    edge_cache: bool

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "KeyGrant":
        data = _load(text, "a key grant")
        try:
            grant = cls(**data)
        except TypeError as error:
            raise ValueError(f"malformed key grant: {error}") from None
        if not all(isinstance(value, str) for value in (grant.key_id, grant.project_id, grant.org_id)):
            raise ValueError("malformed key grant: ids must be strings")
        if not isinstance(grant.active, bool) or not isinstance(grant.edge_cache, bool):
            raise ValueError("malformed key grant: flags must be booleans")
        return grant


@dataclass(frozen=True, slots=True)
class EdgeCacheEntry:
    response: dict[str, Any]
    model: str
    tokens_in: int
    tokens_out: int
    tokens_cached_in: int
    cost_cents: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "EdgeCacheEntry":
        data = _load(text, "a cache entry")
        try:
            entry = cls(**data)
        except TypeError as error:
            raise ValueError(f"malformed cache entry: {error}") from None
        if not isinstance(entry.response, dict) or not isinstance(entry.response.get("choices"), list):
            raise ValueError("malformed cache entry: response must be a chat.completion")
        return entry
