"""The exact cache at the edge: when a request may be answered from KV, its key, and the answer.

The edge answers only requests the origin would have answered from its own exact cache, the same
way. Whatever the origin would refuse (bad mode, TTL or memory header, wrong content type, invalid
JSON) or treat specially (no-store / no-cache, session memory) is forwarded, so the origin gives
the answer or the error, and nothing here can disagree with it.
"""

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from edge.errors import JSON_TYPE, json_bytes
from edge.runtime import KV, Answer
from shared import headers as h
from shared.edgekv import EdgeCacheEntry, cache_name
from shared.fingerprint import fingerprint
from shared.replay import fresh_identity, replay_sse

CHAT_PATH: Final = "/v1/chat/completions"
SSE_TYPE: Final = "text/event-stream; charset=utf-8"  # what the origin's StreamingResponse sends
CACHE_STATUS: Final = "hit-exact-edge"
PROVIDER: Final = "cache"
# origin/cache/directive.py: X-Prism-Cache-TTL is whole seconds from 1 to 7 days, else a 400.
MAX_TTL_SECONDS: Final = 7 * 24 * 3600
MEMORY_MODES: Final = ("auto", "off")

log = logging.getLogger("prism.edge.cache")


@dataclass(frozen=True, slots=True)
class Lookup:
    fp: str
    mode: str
    stream: bool
    include_usage: bool


def _tokens(value: str | None) -> set[str]:
    return {token.strip().lower() for token in (value or "").split(",")}


def _ttl_acceptable(value: str | None) -> bool:
    text = (value or "").strip()
    return not text or (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_TTL_SECONDS)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def answerable_mode(headers: Mapping[str, str]) -> str | None:
    """The routing mode when the headers allow an edge answer, else ``None`` (forward).

    ``X-Prism-Session`` is only tested for presence: with memory on, the origin may add the
    session's history, so a stored answer may not apply.
    """
    if _tokens(headers.get("cache-control")) & {"no-store", "no-cache"}:
        return None
    memory = headers.get(h.MEMORY)
    memory_mode = None if memory is None else memory.strip().lower()
    if memory_mode is not None and memory_mode not in MEMORY_MODES:
        return None
    if h.SESSION in headers and memory_mode != "off":
        return None
    if not _ttl_acceptable(headers.get(h.CACHE_TTL)) or not _is_json(headers.get("content-type")):
        return None
    mode = (headers.get(h.MODE) or h.DEFAULT_MODE).strip().lower()  # origin/http/endpoints/chat.py
    return mode if mode in h.MODES else None


def body_too_large(headers: Mapping[str, str], limit: int) -> bool:
    declared = headers.get("content-length")
    return declared is not None and declared.isdigit() and int(declared) > limit


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def lookup(
    raw: bytes, headers: Mapping[str, str], *, project_id: str, mode: str, limit: int
) -> Lookup | None:
    """The cache key of a chat body, or ``None`` when the origin should see the body instead."""
    if len(raw) > limit or not raw.strip():
        return None
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        return None
    stream, options = body.get("stream"), body.get("stream_options")
    # Not part of the fingerprint but checked by the origin's validation: a bad value is its 400.
    if (stream is not None and not isinstance(stream, bool)) or (
        options is not None and not isinstance(options, dict)
    ):
        return None
    prefer = (headers.get(h.MODEL_PREFER) or "").strip() or None
    try:
        fp = fingerprint(project_id, body, mode=mode, model_prefer=prefer)
    except (TypeError, ValueError):
        return None
    return Lookup(fp, mode, bool(stream), bool((options or {}).get("include_usage")))


def _replayable(choice: Any) -> bool:
    return (
        isinstance(choice, dict)
        and isinstance(choice.get("index"), int)
        and isinstance(choice.get("message"), dict)
    )


def _valid_entry(entry: EdgeCacheEntry) -> bool:
    """What the hit answer and its usage row rely on (``from_json`` checks only the outline)."""
    counts = (entry.tokens_in, entry.tokens_out, entry.tokens_cached_in)
    cost = entry.cost_cents
    return (
        isinstance(entry.model, str)
        and all(_replayable(choice) for choice in entry.response["choices"])
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts)
        and isinstance(cost, (int, float))
        and not isinstance(cost, bool)
        and cost >= 0
    )


async def find(kv: KV, fp: str) -> EdgeCacheEntry | None:
    """The stored answer, or ``None`` for a miss, an unreadable KV or a malformed entry."""
    try:
        raw = await kv.get(cache_name(fp))
    except Exception as error:
        log.warning("cache entry unreadable, forwarding: %s", type(error).__name__)
        return None
    if raw is None:
        return None
    try:
        entry = EdgeCacheEntry.from_json(raw)
    except (ValueError, TypeError):
        entry = None
    if entry is None or not _valid_entry(entry):
        log.warning("malformed cache entry in KV")
        return None
    return entry


def hit_answer(entry: EdgeCacheEntry, found: Lookup, edge_headers: Mapping[str, str]) -> Answer | None:
    """The stored answer with a fresh identity, as JSON or as the replayed stream; ``None`` when the
    stored completion cannot be replayed."""
    completion: dict[str, Any] = fresh_identity(entry.response)
    try:
        if found.stream:
            body, content_type = replay_sse(completion, include_usage=found.include_usage), SSE_TYPE
        else:
            body, content_type = json_bytes(completion), JSON_TYPE
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("stored completion cannot be served")
        return None
    headers = {
        "content-type": content_type,
        **edge_headers,
        h.CACHE: CACHE_STATUS,
        h.MODEL: entry.model,
        h.PROVIDER: PROVIDER,
    }
    return Answer(200, headers, body)
