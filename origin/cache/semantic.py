"""The semantic cache: a rephrased question gets the answer stored for an earlier one.

What is compared and what is scoped lives in ``origin.cache.semantic_request``: only the last user
message is embedded, a long shared system prompt would otherwise dominate every embedding.

Where the vectors live: Redis, so every origin instance sees every entry. How they are searched:
random-hyperplane LSH. ``bands * rows`` hyperplanes derived from a seed (the same on every
instance) give each unit vector a signature of that many bits, cut into ``bands`` codes of ``rows``
bits; an entry's id joins one Redis set per band. A lookup is three round trips: a script unions
the query's buckets and returns the members' records (id, expiry, signature) as one string; the
entries within the Hamming distance the threshold allows have their vectors fetched for an exact
cosine; the best answer is read. Keys of one scope share a hash tag (one Redis Cluster slot)::

    prism:sem:{S}:seq            INCR counter for entry ids
    prism:sem:{S}:rec            HASH id -> record: id, expiry (whole seconds), signature bits
    prism:sem:{S}:ids            ZSET of records scored by expiry (sweeping and the size cap)
    prism:sem:{S}:vec            HASH id -> float32 unit vector
    prism:sem:{S}:b{band}:{code} SET of the ids whose code in that band is ``code`` (hex)
    prism:sem:{S}:ans:{id}       the stored payload (JSON), with the entry's TTL

``S`` hashes the scope, the vector length and the LSH layout. Expired entries are skipped by
lookups and removed by later stores, which also evict the entries closest to expiry beyond
``max_entries``; every key keeps the longest TTL written to it, so an idle scope vanishes.

A lookup and a single ``store`` each have a deadline (``timeout``): a late Redis is a miss, or an
entry not cached. ``store_many`` (warm-up, benchmarks) has none, its batches are big on purpose.
"""

import asyncio
import hashlib
import json
import logging
import math
import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import RedisError

from origin.cache.lsh import (
    VERSION,
    Hyperplanes,
    UnitVector,
    floats,
    hamming_limit,
    unit_vector,
    vector_bytes,
)
from origin.stores.redis_client import RedisClient
from origin.stores.redis_scripts import ScriptRunner

log = logging.getLogger("prism.semantic")
REDIS_ERRORS: Final = (RedisError, OSError, TimeoutError)

DEFAULT_SEED: Final = 1234
DEFAULT_BANDS: Final = 20
DEFAULT_ROWS: Final = 12
DEFAULT_MAX_ENTRIES: Final = 50_000
DEFAULT_MAX_CANDIDATES: Final = 5_000
VECTORS_COMPARED: Final = 64
ANSWERS_TRIED: Final = 3
SWEEP_PER_STORE: Final = 64
STORE_BATCH: Final = 250
FLOAT32_SLACK: Final = 1e-6  # stored vectors are float32: an identical text scores 1 - 1e-8 or so
TIMEOUT_SECONDS: Final = 0.3

_RECORD_HEAD: Final = struct.Struct(">QI")  # entry id, expiry in whole seconds; the signature follows

# KEYS: rec, then the query's bucket in every band. ARGV: max candidates, record size. Returns how
# many ids were considered and their records end to end: one bulk string parses far faster in
# redis-py than thousands of set members and hash values. Past the limit, ids sharing more bands
# with the query come first.
_GATHER: Final = """
local counts, ids = {}, {}
for i = 2, #KEYS do
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    local seen = counts[id]
    if seen then counts[id] = seen + 1 else counts[id] = 1; ids[#ids + 1] = id end
  end
end
local limit, size = tonumber(ARGV[1]), tonumber(ARGV[2])
if #ids > limit then
  local by_count = {}
  for _, id in ipairs(ids) do
    local c = counts[id]
    by_count[c] = by_count[c] or {}
    table.insert(by_count[c], id)
  end
  ids = {}
  for c = #KEYS - 1, 1, -1 do
    for _, id in ipairs(by_count[c] or {}) do
      if #ids < limit then ids[#ids + 1] = id end
    end
  end
end
local records = {}
for first = 1, #ids, 256 do
  local found = redis.call('HMGET', KEYS[1], unpack(ids, first, math.min(first + 255, #ids)))
  for _, record in ipairs(found) do
    if record and #record == size then records[#records + 1] = record end
  end
end
return {#ids, table.concat(records)}
"""

# KEYS: ids, rec, vec, seq, n new answers, d doomed answers, r buckets to shrink, buckets to grow.
# ARGV: ttl, n, d, r, n * (id, record, expiry, vector, payload), d * (id, record), then for each
# bucket a count followed by that many ids.
_WRITE: Final = """
local ttl, n, d, r = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local at = 4
local function refresh(key)
  redis.call('EXPIRE', key, ttl, 'NX')
  redis.call('EXPIRE', key, ttl, 'GT')
end
for i = 1, n do
  redis.call('ZADD', KEYS[1], ARGV[at + 3], ARGV[at + 2])
  redis.call('HSET', KEYS[2], ARGV[at + 1], ARGV[at + 2])
  redis.call('HSET', KEYS[3], ARGV[at + 1], ARGV[at + 4])
  redis.call('SET', KEYS[4 + i], ARGV[at + 5], 'EX', ttl)
  at = at + 5
end
for i = 1, d do
  redis.call('ZREM', KEYS[1], ARGV[at + 2])
  redis.call('HDEL', KEYS[2], ARGV[at + 1])
  redis.call('HDEL', KEYS[3], ARGV[at + 1])
  redis.call('DEL', KEYS[4 + n + i])
  at = at + 2
end
for i = 5 + n + d, #KEYS do
  local count = tonumber(ARGV[at + 1])
  if i < 5 + n + d + r then
    redis.call('SREM', KEYS[i], unpack(ARGV, at + 2, at + 1 + count))
  else
    redis.call('SADD', KEYS[i], unpack(ARGV, at + 2, at + 1 + count))
    refresh(KEYS[i])
  end
  at = at + 1 + count
end
for i = 1, 4 do refresh(KEYS[i]) end
"""


@dataclass(frozen=True, slots=True)
class SemanticHit:
    similarity: float
    entry: dict[str, Any]
    candidates: int


@dataclass(frozen=True, slots=True)
class ScopeKeys:
    prefix: str

    @property
    def seq(self) -> str:
        return f"{self.prefix}:seq"

    @property
    def records(self) -> str:
        return f"{self.prefix}:rec"

    @property
    def vectors(self) -> str:
        return f"{self.prefix}:vec"

    @property
    def ids(self) -> str:
        return f"{self.prefix}:ids"

    def bucket(self, band: int, code: int) -> str:
        return f"{self.prefix}:b{band}:{code:x}"

    def answer(self, entry_id: int | str) -> str:
        return f"{self.prefix}:ans:{entry_id}"


@dataclass(frozen=True, slots=True)
class _Pending:
    unit: UnitVector
    signature: int
    payload: str


def _record(entry_id: int, expiry: int, signature: int, signature_bytes: int) -> bytes:
    return _RECORD_HEAD.pack(entry_id, expiry) + signature.to_bytes(signature_bytes, "big")


def _records(blob: bytes, signature_bytes: int) -> Iterable[tuple[int, int, int]]:
    """``(entry id, expiry, signature)`` of each record in ``blob``."""
    size = _RECORD_HEAD.size + signature_bytes
    for offset in range(0, len(blob) - size + 1, size):
        entry_id, expiry = _RECORD_HEAD.unpack_from(blob, offset)
        yield entry_id, expiry, int.from_bytes(blob[offset + _RECORD_HEAD.size : offset + size], "big")


def _decode_entry(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


class SemanticCache:
    def __init__(
        self,
        redis_client: RedisClient,
        *,
        seed: int = DEFAULT_SEED,
        bands: int = DEFAULT_BANDS,
        rows: int = DEFAULT_ROWS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
        clock: Callable[[], float] = time.time,
        timeout: float = TIMEOUT_SECONDS,
        scripts: ScriptRunner | None = None,
    ) -> None:
        if not (1 <= bands <= 64 and 1 <= rows <= 32 and max_entries >= 1 and max_candidates >= 1):
            raise ValueError("bands 1-64, rows 1-32, max_entries and max_candidates positive")
        if redis_client.get_encoder().decode_responses:
            raise ValueError("the semantic cache stores binary vectors: use decode_responses=False")
        self._redis = redis_client
        self._seed = seed
        self._bands = bands
        self._rows = rows
        self._max_entries = max_entries
        self._max_candidates = max_candidates
        self._clock = clock
        self._timeout = timeout
        self._planes: dict[int, Hyperplanes] = {}
        scripts = scripts or ScriptRunner(redis_client)
        self._gather = scripts.register(_GATHER)
        self._write_script = scripts.register(_WRITE)

    def keys(self, scope: str, dims: int) -> ScopeKeys:
        material = f"{VERSION}|{scope}|{dims}|{self._seed}|{self._bands}|{self._rows}"
        return ScopeKeys(f"prism:sem:{{{hashlib.sha256(material.encode()).hexdigest()[:32]}}}")

    def planes(self, dims: int) -> Hyperplanes:
        if (planes := self._planes.get(dims)) is None:
            planes = Hyperplanes(dims, seed=self._seed, bands=self._bands, rows=self._rows)
            self._planes[dims] = planes
        return planes

    async def lookup(self, scope: str, vector: Sequence[float], threshold: float) -> SemanticHit | None:
        """The most similar live entry at or above ``threshold``; None on a miss or a Redis error."""
        unit = unit_vector(vector)
        if unit is None:
            return None
        keys, planes = self.keys(scope, len(unit)), self.planes(len(unit))
        signature = planes.signature(unit)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._find(keys, planes, unit, signature, threshold)
        except REDIS_ERRORS as error:
            log.warning("semantic cache lookup failed: %s", type(error).__name__)
            return None

    async def _find(
        self, keys: ScopeKeys, planes: Hyperplanes, unit: UnitVector, signature: int, threshold: float
    ) -> SemanticHit | None:
        considered, records = await self._gather(
            keys=[keys.records, *(keys.bucket(b, c) for b, c in enumerate(planes.codes(signature)))],
            args=[self._max_candidates, _RECORD_HEAD.size + planes.signature_bytes],
        )
        limit = hamming_limit(planes.bands * planes.rows, threshold)
        near = self._near(signature, _records(records, planes.signature_bytes), limit)
        if not near:
            return None
        blobs: list[bytes | str | None] = await self._redis.hmget(keys.vectors, near)
        ranked = _ranked(unit, near, blobs, threshold)[:ANSWERS_TRIED]
        if not ranked:
            return None
        answers: list[bytes | str | None] = await self._redis.mget([keys.answer(i) for _, i in ranked])
        for (similarity, _), raw in zip(ranked, answers, strict=True):
            if (entry := _decode_entry(raw)) is not None:
                return SemanticHit(similarity=similarity, entry=entry, candidates=int(considered))
        return None

    def _near(self, query: int, records: Iterable[tuple[int, int, int]], limit: int) -> list[str]:
        """Live entries whose signature is within ``limit`` bits of the query's, closest first."""
        now = self._clock()
        near = [
            (distance, entry_id)
            for entry_id, expiry, signature in records
            if expiry > now and (distance := (signature ^ query).bit_count()) <= limit
        ]
        near.sort()
        return [str(entry_id) for _, entry_id in near[:VECTORS_COMPARED]]

    async def store(
        self, scope: str, vector: Sequence[float], payload: Mapping[str, Any], ttl_seconds: int
    ) -> list[str]:
        """Add one entry; the Redis key of its answer (deleting it erases the entry), or none when a
        Redis error or timeout (logged) left it uncached."""
        return await self._store_all(scope, [(vector, payload)], ttl_seconds, self._timeout)

    async def store_many(
        self, scope: str, items: Iterable[tuple[Sequence[float], Mapping[str, Any]]], ttl_seconds: int
    ) -> None:
        """Add entries (warm-up, benchmarks); vectors of another length than the first are skipped."""
        await self._store_all(scope, items, ttl_seconds, None)

    async def _store_all(
        self,
        scope: str,
        items: Iterable[tuple[Sequence[float], Mapping[str, Any]]],
        ttl_seconds: int,
        timeout: float | None,
    ) -> list[str]:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        pending: list[_Pending] = []
        dims = 0
        for vector, payload in items:
            unit = unit_vector(vector)
            if unit is None or (dims and len(unit) != dims):
                continue
            dims = len(unit)
            text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
            pending.append(_Pending(unit, self.planes(dims).signature(unit), text))
        stored: list[str] = []
        if not pending:
            return stored
        try:
            for start in range(0, len(pending), STORE_BATCH):
                async with asyncio.timeout(timeout):
                    stored += await self._write(
                        self.keys(scope, dims), dims, pending[start : start + STORE_BATCH], ttl_seconds
                    )
        except REDIS_ERRORS as error:
            log.warning("semantic cache store failed: %s", type(error).__name__)
        return stored

    async def _write(self, keys: ScopeKeys, dims: int, batch: list[_Pending], ttl_seconds: int) -> list[str]:
        """Sweep expired and surplus entries, then add ``batch``: one read, then one atomic script."""
        planes, now = self.planes(dims), self._clock()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incrby(keys.seq, len(batch))
            pipe.zcard(keys.ids)
            pipe.zrange(keys.ids, 0, SWEEP_PER_STORE + len(batch) - 1, withscores=True)
            last_id, count, head = await pipe.execute()
        overflow = count + len(batch) - self._max_entries
        doomed: dict[str, bytes] = {}
        shrink: dict[str, list[str]] = {}
        for rank, (record, score) in enumerate(head):
            if rank >= overflow and score > now:
                break
            for doomed_id, _, signature in _records(record, planes.signature_bytes):
                doomed[str(doomed_id)] = record
                for band, code in enumerate(planes.codes(signature)):
                    shrink.setdefault(keys.bucket(band, code), []).append(str(doomed_id))
        expiry = math.ceil(now + ttl_seconds)
        new_ids = [str(last_id - len(batch) + 1 + offset) for offset in range(len(batch))]
        grow: dict[str, list[str]] = {}
        args: list[bytes | str | int] = [ttl_seconds, len(batch), len(doomed), len(shrink)]
        for entry_id, entry in zip(new_ids, batch, strict=True):
            record = _record(int(entry_id), expiry, entry.signature, planes.signature_bytes)
            args += [entry_id, record, expiry, vector_bytes(entry.unit), entry.payload]
            for band, code in enumerate(planes.codes(entry.signature)):
                grow.setdefault(keys.bucket(band, code), []).append(entry_id)
        for entry_id, record in doomed.items():
            args += [entry_id, record]
        for records in [*shrink.values(), *grow.values()]:
            args += [len(records), *records]
        answers = [keys.answer(entry_id) for entry_id in [*new_ids, *doomed]]
        await self._write_script(
            keys=[keys.ids, keys.records, keys.vectors, keys.seq, *answers, *shrink, *grow], args=args
        )
        return answers[: len(batch)]


def _ranked(
    unit: UnitVector, ids: list[str], blobs: list[bytes | str | None], threshold: float
) -> list[tuple[float, str]]:
    """Candidates at or above ``threshold`` by exact cosine, most similar first."""
    limit = math.sqrt(max(2.0 * (1.0 - threshold + FLOAT32_SLACK), 0.0))
    found: list[tuple[float, str]] = []
    for entry_id, blob in zip(ids, blobs, strict=True):
        if not isinstance(blob, bytes) or len(blob) != 4 * len(unit):
            continue
        distance = math.dist(unit, floats(blob))
        if distance <= limit:
            found.append((max(-1.0, min(1.0, 1.0 - distance * distance / 2.0)), entry_id))
    found.sort(reverse=True)
    return found
