"""Workers KV: the entry names and the JSON the origin writes and the edge reads (one format, here).

- ``key:<key_hash>`` → ``KeyGrant``: what a key may do at the edge.
- ``cache:<fingerprint>`` → ``EdgeCacheEntry``: a cached answer, written with the entry's TTL.

Both carry the project's controls generation (a digest of its policies, its settings and the
gateway's routing, made by the origin): the edge serves an entry only under a grant of the same
generation, so a rule made after the answer was cached sends the request to the origin. An entry or
a grant written before generations existed has none and is never served. Unknown fields are
ignored, so that a grant or an entry written by a newer origin still reads.
- ``deadletter:<request_id>`` → a signed usage envelope the edge could not deliver (the only thing
  the edge writes); the origin sweeps and ingests them.
"""

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Final

from shared.keys import secrets_equal
from shared.signing import sign

KEY_PREFIX: Final = "key:"
CACHE_PREFIX: Final = "cache:"
DEAD_LETTER_PREFIX: Final = "deadletter:"


def key_name(key_hash: str) -> str:
    return KEY_PREFIX + key_hash


def cache_name(fp: str) -> str:
    return CACHE_PREFIX + fp


def dead_letter_name(request_id: str) -> str:
    return DEAD_LETTER_PREFIX + request_id


def _load(text: str | bytes, what: str, fields: Iterable[str]) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object")
    known = set(fields)
    return {name: value for name, value in data.items() if name in known}


def generations_match(grant_generation: str, entry_generation: str) -> bool:
    """May an entry made under ``entry_generation`` be served under this grant? Never without one."""
    return bool(grant_generation) and entry_generation == grant_generation


@dataclass(frozen=True, slots=True)
class KeyGrant:
    key_id: str
    project_id: str
    org_id: str
    active: bool
    edge_cache: bool
    generation: str = ""
    expires_at: float | None = None  # epoch seconds; the edge refuses the key from then on
    models: tuple[str, ...] = ()  # the key's model globs: it is served only answers of these
    # The project keeps session history: a session request may need it, so only the origin answers.
    session_memory: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "KeyGrant":
        data = _load(text, "a key grant", cls.__dataclass_fields__)
        models = data.get("models", [])
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise ValueError("malformed key grant: models must be a list of strings")
        expires = data.get("expires_at")
        if expires is not None and (isinstance(expires, bool) or not isinstance(expires, (int, float))):
            raise ValueError("malformed key grant: expires_at must be a number of seconds")
        try:
            grant = cls(**{**data, "models": tuple(models)})
        except TypeError as error:
            raise ValueError(f"malformed key grant: {error}") from None
        ids = (grant.key_id, grant.project_id, grant.org_id, grant.generation)
        if not all(isinstance(value, str) for value in ids):
            raise ValueError("malformed key grant: ids and generation must be strings")
        flags = (grant.active, grant.edge_cache, grant.session_memory)
        if not all(isinstance(flag, bool) for flag in flags):
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
    generation: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "EdgeCacheEntry":
        data = _load(text, "a cache entry", cls.__dataclass_fields__)
        try:
            entry = cls(**data)
        except TypeError as error:
            raise ValueError(f"malformed cache entry: {error}") from None
        response = entry.response
        if not isinstance(response, dict) or not (
            isinstance(response.get("choices"), list) or isinstance(response.get("data"), list)
        ):
            raise ValueError(
                "malformed cache entry: response must be a chat.completion or an embeddings list"
            )
        if not isinstance(entry.generation, str):
            raise ValueError("malformed cache entry: generation must be a string")
        return entry


def seal_dead_letter(body: bytes, timestamp: int, secret: str) -> str:
    """The KV value of a dead letter: the signed envelope exactly as it was signed, and its signature."""
    record = {
        "body": body.decode("utf-8"),
        "signature": sign(body, timestamp, secret),
        "timestamp": timestamp,
    }
    return json.dumps(record, separators=(",", ":"), sort_keys=True)


def open_dead_letter(raw: str | bytes, secret: str) -> bytes:
    """The envelope inside a dead letter; ``ValueError`` when it is malformed or its signature is wrong.

    The timestamp's age is not checked: KV is written only by our Worker, and a letter may wait days.
    """
    sealed = json.loads(raw)
    if not isinstance(sealed, dict):
        raise ValueError("a dead letter must be a JSON object")
    body, signature, timestamp = sealed.get("body"), sealed.get("signature"), sealed.get("timestamp")
    if not isinstance(body, str) or not isinstance(signature, str):
        raise ValueError("body and signature must be strings")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative integer")
    signed = body.encode("utf-8")
    if not secrets_equal(sign(signed, timestamp, secret), signature):
        raise ValueError("invalid signature")
    return signed
