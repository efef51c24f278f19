"""How the semantic cache holds up at scale: lookup latency, candidates and recall per scope size.

``measure_lookup`` fills one scope with ``entries`` random unit vectors, then looks up perturbed
copies of stored ones (cosine ``similarity`` to their source) and times each lookup end to end
(signing, both Redis round trips, exact cosine). ``baseline`` is the mean cosine between unrelated
entries: 0 for isotropic random vectors, around 0.3 for real text embeddings of one application,
whose vectors share a common direction — that is what makes LSH buckets fill up.

    python -m bench.semantic_scale --entries 10000 50000 --dims 256
"""

import argparse
import asyncio
import json
import math
import random
import statistics
import time
import uuid
from collections.abc import Sequence

import redis.asyncio as redis

from origin.cache.lsh import unit_vector
from origin.cache.semantic import SemanticCache


def _gaussian(rng: random.Random, dims: int) -> list[float]:
    return [rng.gauss(0.0, 1.0) for _ in range(dims)]


def _unit(vector: Sequence[float]) -> list[float]:
    unit = unit_vector(vector)
    if unit is None:
        raise ValueError("zero vector")
    return list(unit)


def random_entries(rng: random.Random, count: int, dims: int, *, baseline: float = 0.0) -> list[list[float]]:
    """Unit vectors whose pairwise cosine averages ``baseline``."""
    common = _unit(_gaussian(rng, dims))
    shared, own = math.sqrt(baseline), math.sqrt(1.0 - baseline)
    return [
        _unit([shared * c + own * g for c, g in zip(common, _unit(_gaussian(rng, dims)), strict=True)])
        for _ in range(count)
    ]


def perturbed(rng: random.Random, vector: Sequence[float], similarity: float) -> list[float]:
    """A unit vector at cosine ``similarity`` from the unit ``vector``."""
    noise = _gaussian(rng, len(vector))
    along = sum(n * v for n, v in zip(noise, vector, strict=True))
    orthogonal = _unit([n - along * v for n, v in zip(noise, vector, strict=True)])
    side = math.sqrt(1.0 - similarity * similarity)
    return [similarity * v + side * o for v, o in zip(vector, orthogonal, strict=True)]


def _percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure_lookup(
    redis_client: "redis.Redis",
    entries: int,
    dims: int,
    *,
    queries: int = 200,
    similarity: float = 0.95,
    threshold: float = 0.92,
    baseline: float = 0.0,
    seed: int = 7,
    cache: SemanticCache | None = None,
) -> dict[str, float]:
    """p50/p99 lookup milliseconds, mean candidates, recall and Redis bytes per entry; cleans up.

    Bytes per entry count the whole Redis instance's growth: approximate if others write meanwhile.
    """
    cache = cache or SemanticCache(redis_client, max_entries=max(entries, 1))
    rng = random.Random(seed)
    scope = f"bench:{uuid.uuid4().hex}"
    vectors = random_entries(rng, entries, dims, baseline=baseline)
    memory_before = await _used_memory(redis_client)
    started = time.perf_counter()
    await cache.store_many(scope, ((vector, {"i": i}) for i, vector in enumerate(vectors)), 3600)
    load_seconds = time.perf_counter() - started
    bytes_per_entry = (await _used_memory(redis_client) - memory_before) / max(entries, 1)
    latencies: list[float] = []
    candidates: list[int] = []
    found = 0
    try:
        for _ in range(queries):
            source = rng.randrange(entries)
            query = perturbed(rng, vectors[source], similarity)
            started = time.perf_counter()
            hit = await cache.lookup(scope, query, threshold)
            latencies.append((time.perf_counter() - started) * 1000)
            if hit is not None:
                candidates.append(hit.candidates)
                found += hit.entry.get("i") == source
    finally:
        await _drop(redis_client, cache.keys(scope, dims).prefix)
    return {
        "entries": float(entries),
        "dims": float(dims),
        "baseline": baseline,
        "load_seconds": load_seconds,
        "redis_bytes_per_entry": bytes_per_entry,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "mean_candidates": statistics.fmean(candidates) if candidates else 0.0,
        "recall": found / queries,
    }


async def _used_memory(redis_client: "redis.Redis") -> int:
    info = await redis_client.info("memory")
    return int(info["used_memory"])


async def _drop(redis_client: "redis.Redis", prefix: str) -> None:
    batch: list[bytes] = []
    async for key in redis_client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis_client.unlink(*batch)
            batch.clear()
    if batch:
        await redis_client.unlink(*batch)


async def _main(redis_url: str, sizes: list[int], dims: int, baselines: list[float]) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        for baseline in baselines:
            for entries in sizes:
                result = await measure_lookup(client, entries, dims, baseline=baseline)
                print(json.dumps({key: round(value, 3) for key, value in result.items()}), flush=True)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Semantic cache lookup latency at scale.")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--entries", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--baseline", type=float, nargs="+", default=[0.0, 0.3])
    args = parser.parse_args(argv)
    asyncio.run(_main(args.redis_url, args.entries, args.dims, args.baseline))


if __name__ == "__main__":
    main()
