"""The exact cache at the edge: when a request may be answered from KV, its key, and the answer.

The edge answers only requests the origin would have answered from its own exact cache, the same
way, with the origin's parsers (``shared``). Whatever the origin would treat specially (no-store /
no-cache, session memory, a body it would refuse or could not fingerprint) is forwarded, so the
origin gives the answer or the error and nothing here can disagree with it.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from edge.runtime import KV, Answer
from shared import headers as h
from shared.body import is_json_content_type, parse_json_body
from shared.chat_body import validate_chat_body
from shared.classify import classify
from shared.costs import Costs
from shared.edgekv import EdgeCacheEntry, cache_name
from shared.embeddings_body import FINGERPRINT_MODE as EMBEDDINGS_MODE
from shared.embeddings_body import TASK_TYPE as EMBEDDING_TASK
from shared.embeddings_body import is_embeddings_answer, validate_embeddings_body
from shared.errors import InvalidBody
from shared.fingerprint import fingerprint
from shared.replay import JSON_CONTENT_TYPE, SSE_CONTENT_TYPE, fresh_identity, json_bytes, replay_sse
from shared.request import PrismHeaders
from shared.usage import CACHE_PROVIDER, HIT_EXACT_EDGE

CHAT_PATH: Final = "/v1/chat/completions"
EMBEDDINGS_PATH: Final = "/v1/embeddings"

log = logging.getLogger("prism.edge.cache")


@dataclass(frozen=True, slots=True)
class Lookup:
    fp: str
    stream: bool
    include_usage: bool
    task_type: str


def answerable(parsed: PrismHeaders, headers: Mapping[str, str], limit: int, *, session_memory: bool) -> bool:
    """Whether the headers allow an edge answer at all (the body decides the rest).

    With session memory on (the request's and the project's), the origin may add the session's
    history, so a stored answer may not apply.
    """
    remembered = parsed.memory_on and session_memory
    if parsed.error is not None or parsed.cache.no_store or parsed.cache.no_cache or remembered:
        return False
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return False
    return is_json_content_type(headers.get("content-type"))


def lookup(raw: bytes, parsed: PrismHeaders, *, project_id: str, limit: int) -> Lookup | None:
    """The cache key of a chat body, or ``None`` when the origin should see the body instead."""
    if len(raw) > limit:
        return None
    try:
        body = validate_chat_body(parse_json_body(raw))
        fp = fingerprint(project_id, body, mode=parsed.mode, model_prefer=parsed.model_prefer)
    except (InvalidBody, TypeError, ValueError):
        return None
    options = body.get("stream_options") or {}
    task_type = classify(body["messages"], response_format=body.get("response_format"))
    return Lookup(fp, bool(body.get("stream")), bool(options.get("include_usage")), task_type)


def lookup_embeddings(raw: bytes, parsed: PrismHeaders, *, project_id: str, limit: int) -> Lookup | None:
    """The cache key of an embeddings body (the origin's: no mode or preference of the headers
    enters it), or ``None`` when the origin should see the body instead."""
    if len(raw) > limit:
        return None
    try:
        body = validate_embeddings_body(parse_json_body(raw))
        fp = fingerprint(project_id, body, mode=EMBEDDINGS_MODE)
    except (InvalidBody, TypeError, ValueError):
        return None
    return Lookup(fp, stream=False, include_usage=False, task_type=EMBEDDING_TASK)


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
    response = entry.response
    answer = (
        is_embeddings_answer(response)
        if "choices" not in response
        else all(_replayable(choice) for choice in response["choices"])
    )
    return (
        isinstance(entry.model, str)
        and answer
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
    """The stored answer, a completion with a fresh identity, as JSON or as the replayed stream (an
    embeddings list as it is); ``None`` when the stored completion cannot be replayed."""
    costs = Costs(0.0, float(entry.cost_cents))
    try:
        if "choices" not in entry.response:
            body, content_type = json_bytes(entry.response), JSON_CONTENT_TYPE
        elif found.stream:
            completion: dict[str, Any] = fresh_identity(entry.response)
            body = replay_sse(completion, include_usage=found.include_usage, costs=costs)
            content_type = SSE_CONTENT_TYPE
        else:
            body, content_type = json_bytes(fresh_identity(entry.response)), JSON_CONTENT_TYPE
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("stored completion cannot be served")
        return None
    headers = {
        "content-type": content_type,
        **edge_headers,
        h.CACHE: HIT_EXACT_EDGE,
        h.MODEL: entry.model,
        h.PROVIDER: CACHE_PROVIDER,
        **costs.headers(),
    }
    return Answer(200, headers, body)
