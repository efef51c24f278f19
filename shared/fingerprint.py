"""The exact-cache key: one function, whichever tier computes it."""

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from shared.headers import DEFAULT_MODE

VERSION: Final = "prism-fp-1"

# Body fields that never change the answer, so never split the cache.
IGNORED_FIELDS: Final = frozenset(
    {"stream", "stream_options", "user", "metadata", "store", "prompt_cache_key", "safety_identifier"}
)


# Values JSON itself already writes canonically: left as they are, without a call each.
_PLAIN: Final = frozenset({str, int, bool, type(None)})
# The definition of the canonical bytes, built once (``json.dumps`` with options builds an encoder on
# every call, which costs as much as encoding a small body).
_ENCODER: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _canonical(value: Any) -> Any:
    # Dispatched on the exact type first: a parsed body holds nothing but dicts, lists and plain values.
    kind = type(value)
    if kind is dict:
        return {
            key if type(key) is str else str(key): item if type(item) in _PLAIN else _canonical(item)
            for key, item in value.items()
        }
    if kind is list:
        return [item if type(item) in _PLAIN else _canonical(item) for item in value]
    if kind in _PLAIN:
        return value
    return _canonical_other(value)


class ExponentFloat(float):
    """A float whose repr has an exponent (``1e-07``): a faster encoder that writes exponents its own
    way (orjson: ``1e-7``) can tell it apart and refuse it."""


def _canonical_other(value: Any) -> Any:
    """Floats, and subclasses or other mappings and sequences than a parsed body holds."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and Infinity have no canonical form")
        if value.is_integer():
            return int(value)
        return ExponentFloat(value) if "e" in repr(value) else value
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    raise TypeError(f"cannot fingerprint a value of type {type(value).__name__}")


def canonical_json(canonical: Any) -> bytes:
    """The bytes of a value already made canonical: sorted keys, no whitespace, UTF-8."""
    return _ENCODER.encode(canonical).encode("utf-8")


# Writes a canonical value as ``canonical_json`` does (the origin passes a faster one).
Encoder = Callable[[Any], bytes]


def canonical_bytes(value: Any, encode: Encoder = canonical_json) -> bytes:
    """Sorted keys, no whitespace, UTF-8, integral floats as integers."""
    return encode(_canonical(value))


def fingerprint(
    scope: str,
    body: Mapping[str, Any],
    *,
    mode: str | None = None,
    model_prefer: str | None = None,
    encode: Encoder = canonical_json,
) -> str:
    """Return 64 hex chars identifying the answer to ``body`` within ``scope`` (a project id)."""
    relevant = {key: item for key, item in body.items() if key not in IGNORED_FIELDS}
    material = [VERSION, scope, mode or DEFAULT_MODE, model_prefer, relevant]
    return hashlib.sha256(canonical_bytes(material, encode)).hexdigest()
