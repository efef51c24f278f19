"""The usage row of an edge answer, and its delivery to the origin's ``POST /internal/usage``.

Rows travel in batches (``edge.outbox``): ``{"rows": [envelope, ...]}``, a batch of one as the bare
envelope. Delivery runs after the response, inside ``ctx.waitUntil`` (30 s at most). Each attempt is
signed afresh (the origin allows 5 minutes of skew) and given 5 s; network errors, timeouts, 5xx, 408
and 429 are retried with jittered exponential backoff until a new attempt could no longer finish by
the deadline (``DEADLINE_SECONDS`` after the row was handed off). Any other 4xx means the origin
refused a row itself, so retrying cannot help: a refused batch is sent again row by row, so that only
the refused row is left over. A row not delivered is dead-lettered, never dropped:
``deadletter:<request_id>`` in KV holds::

    {"body": "<the envelope JSON, exactly as signed>", "signature": "<hex>", "timestamp": 1700000000}

with ``signature = shared.signing.sign(body, timestamp, INGEST_SECRET)``, kept ``DEAD_LETTER_TTL``
seconds. The origin's sweeper (``origin/usage/deadletters.py``) checks the signature (without the
freshness window) and ingests ``body`` as ``POST /internal/usage`` would; ingestion is idempotent
on ``request_id``, so a row that did arrive before being dead-lettered is counted once.
"""

import asyncio
import enum
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from edge.cache import Lookup
from edge.runtime import Clock, Env, Poster, Sleep
from shared import headers as h
from shared.edgekv import EdgeCacheEntry, KeyGrant, dead_letter_name, seal_dead_letter
from shared.request import PrismHeaders
from shared.signing import sign
from shared.usage import CACHE_PROVIDER, HIT_EXACT_EDGE, UsageRow

INGEST_PATH: Final = "/internal/usage"
ATTEMPT_TIMEOUT: Final = 5.0
MAX_ATTEMPTS: Final = 6
BACKOFF_BASE: Final = 0.5
BACKOFF_CAP: Final = 4.0
# waitUntil allows 30 s; no attempt may run past 25 s, leaving room for the dead-letter writes.
DEADLINE_SECONDS: Final = 25.0
DEAD_LETTER_TTL: Final = 7 * 24 * 3600
DEAD_LETTER_WRITES: Final = 2
RETRYABLE_4XX: Final = frozenset({408, 429})

log = logging.getLogger("prism.edge.ingest")


class Delivery(enum.Enum):
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead-lettered"
    LOST = "lost"  # neither the origin nor KV took it: only the log line remains


def _row(
    grant: KeyGrant,
    parsed: PrismHeaders,
    *,
    request_id: str,
    region: str | None,
    started: float,
    now: float,
) -> UsageRow:
    row = UsageRow(
        org_id=grant.org_id,
        project_id=grant.project_id,
        key_id=grant.key_id,
        request_id=request_id,
        created_at=datetime.fromtimestamp(now, UTC),
        cache_status=HIT_EXACT_EDGE,
        edge_region=region,
        latency_ms=max(0, int((now - started) * 1000)),
    )
    parsed.attribute(row)
    return row


def hit_row(
    grant: KeyGrant,
    entry: EdgeCacheEntry,
    found: Lookup,
    parsed: PrismHeaders,
    *,
    request_id: str,
    region: str | None,
    started: float,
    now: float,
) -> UsageRow:
    """A served hit: no provider cost; it saved what the answer cost the first time."""
    row = _row(grant, parsed, request_id=request_id, region=region, started=started, now=now)
    row.model_used = entry.model
    row.provider = CACHE_PROVIDER
    row.tokens_in, row.tokens_out = entry.tokens_in, entry.tokens_out
    row.tokens_cached_in = entry.tokens_cached_in
    row.cache_saved_cents = float(entry.cost_cents)
    row.was_streaming = found.stream
    row.task_type = found.task_type
    return row


def refused_row(
    grant: KeyGrant,
    parsed: PrismHeaders,
    *,
    request_id: str,
    status: int,
    code: str,
    region: str | None,
    started: float,
    now: float,
) -> UsageRow:
    """An authenticated request the edge refused: like the origin, it still leaves a row."""
    row = _row(grant, parsed, request_id=request_id, region=region, started=started, now=now)
    row.success, row.status_code, row.error_code = False, status, code
    return row


def envelope(key_hash: str, row: UsageRow) -> bytes:
    """The body of ``POST /internal/usage``."""
    payload = {"key_hash": key_hash, "row": json.loads(row.to_wire())}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def signed_headers(body: bytes, timestamp: int, secret: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        h.INGEST_TIMESTAMP: str(timestamp),
        h.INGEST_SIGNATURE: sign(body, timestamp, secret),
    }


def backoff(attempt: int, jitter: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): half fixed, half random."""
    exponential: float = BACKOFF_BASE * 2.0 ** (attempt - 1)
    return min(BACKOFF_CAP, exponential) * (0.5 + jitter / 2)


async def _attempt(body: bytes, env: Env, poster: Poster, now: float) -> int | None:
    url = env.origin_url.rstrip("/") + INGEST_PATH
    headers = signed_headers(body, int(now), env.ingest_secret)
    try:
        # The poster enforces the timeout; wait_for bounds a poster that does not.
        return await asyncio.wait_for(poster.post(url, body, headers, ATTEMPT_TIMEOUT), ATTEMPT_TIMEOUT)
    except Exception as error:
        log.warning("usage hand-off attempt failed: %s", type(error).__name__)
        return None


class _Post(enum.Enum):
    TAKEN = "taken"
    REFUSED = "refused"  # a 4xx the origin means: retrying the same body cannot help
    UNANSWERED = "unanswered"  # network errors, timeouts, 5xx, 408, 429 until the deadline


@dataclass(frozen=True, slots=True)
class Parcel:
    """One row on its way: its envelope, exactly as it is signed when sent alone."""

    request_id: str
    body: bytes


def batch_body(parcels: Sequence[Parcel]) -> bytes:
    """The body that carries ``parcels``: the envelope itself for one, ``{"rows": [...]}`` for more."""
    if len(parcels) == 1:
        return parcels[0].body
    return b'{"rows":[' + b",".join(parcel.body for parcel in parcels) + b"]}"


async def _post(
    body: bytes,
    env: Env,
    poster: Poster,
    clock: Clock,
    sleep: Sleep,
    jitter: Callable[[], float],
    deadline: float,
) -> _Post:
    """Attempts until the origin takes ``body`` or refuses it, or no attempt is left before ``deadline``."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        status = await _attempt(body, env, poster, clock())
        if status is not None and 200 <= status < 300:
            return _Post.TAKEN
        if status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX:
            log.error("origin refused usage %s with %d", _label(body), status)
            return _Post.REFUSED
        if status is not None:
            log.warning("usage hand-off got %d", status)
        delay = backoff(attempt, jitter())
        if attempt == MAX_ATTEMPTS or clock() + delay + ATTEMPT_TIMEOUT > deadline:
            break
        await sleep(delay)
    return _Post.UNANSWERED


def _label(body: bytes) -> str:
    return "batch" if body.startswith(b'{"rows":') else "row"


async def deliver(
    parcels: Sequence[Parcel],
    env: Env,
    poster: Poster,
    *,
    clock: Clock,
    sleep: Sleep,
    jitter: Callable[[], float] = random.random,
    deadline: float | None = None,
) -> list[Delivery]:
    """Deliver ``parcels`` together (by ``deadline``, else ``DEADLINE_SECONDS`` from now); what became
    of each. The rows of a refused batch go again one by one; what the origin never took is dead-lettered."""
    if deadline is None:
        deadline = clock() + DEADLINE_SECONDS
    posted = await _post(batch_body(parcels), env, poster, clock, sleep, jitter, deadline)
    if posted is _Post.TAKEN:
        return [Delivery.DELIVERED] * len(parcels)
    # One row the origin will never take refuses its batch: the others go again, each on its own.
    if posted is _Post.REFUSED and len(parcels) > 1 and clock() + ATTEMPT_TIMEOUT <= deadline:
        alone = [
            deliver([parcel], env, poster, clock=clock, sleep=sleep, jitter=jitter, deadline=deadline)
            for parcel in parcels
        ]
        return [outcome for outcomes in await asyncio.gather(*alone) for outcome in outcomes]
    letters = [_dead_letter(parcel.body, parcel.request_id, env, clock) for parcel in parcels]
    return list(await asyncio.gather(*letters))


async def _dead_letter(body: bytes, request_id: str, env: Env, clock: Clock) -> Delivery:
    record = seal_dead_letter(body, int(clock()), env.ingest_secret)
    failure = ""
    for _ in range(DEAD_LETTER_WRITES):
        try:
            await env.kv.put(dead_letter_name(request_id), record, expiration_ttl=DEAD_LETTER_TTL)
        except Exception as error:
            failure = type(error).__name__
            continue
        log.warning("usage row %s dead-lettered", request_id)
        return Delivery.DEAD_LETTERED
    # The record holds no key and no prompt, so the log line can carry it for a manual replay.
    log.error("usage row %s lost: dead-letter write failed (%s): %s", request_id, failure, record)
    return Delivery.LOST
