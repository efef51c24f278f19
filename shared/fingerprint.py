"""The exact-cache key: one function, whichever tier computes it."""

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, Final

from shared.headers import DEFAULT_MODE

VERSION: Final = "prism-fp-1"

# Body fields that never change the answer, so never split the cache.
IGNORED_FIELDS: Final = frozenset(
    {"stream", "stream_options", "user", "metadata", "store", "prompt_cache_key", "safety_identifier"}
)


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and Infinity have no canonical form")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    raise TypeError(f"cannot fingerprint a value of type {type(value).__name__}")


def canonical_bytes(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, integral floats as integers."""
    return json.dumps(
        _canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def fingerprint(
    scope: str,
    body: Mapping[str, Any],
    *,
    mode: str | None = None,
    model_prefer: str | None = None,
) -> str:
    """Return 64 hex chars identifying the answer to ``body`` within ``scope`` (a project id)."""
    relevant = {key: item for key, item in body.items() if key not in IGNORED_FIELDS}
    material = [VERSION, scope, mode or DEFAULT_MODE, model_prefer, relevant]
    return hashlib.sha256(canonical_bytes(material)).hexdigest()
