"""Semantic cache at scale: ``bench.semantic_scale.measure_lookup`` per scope size, as a table.

Each measurement fills one fresh scope (one project + model) in the Redis of ``PRISM_REDIS_URL`` with
random 256-dimension unit vectors, times lookups of perturbed copies end to end, and deletes its keys.
Baseline 0.0 is isotropic random vectors; 0.3 is closer to real text embeddings of one application,
whose shared direction fills the LSH buckets (more candidates per lookup).
"""

import asyncio
import os
from collections.abc import Callable, Sequence
from typing import Final

import redis.asyncio as redis

from bench.semantic_scale import measure_lookup

ENTRIES: Final = (10_000,)
LARGE_ENTRIES: Final = (50_000,)
BASELINES: Final = (0.0, 0.3)
DIMS: Final = 256
QUERIES: Final = 200
_REDIS_URL: Final = "redis://127.0.0.1:6379/0"

Measurement = dict[str, float]
Progress = Callable[[str], None]


async def _measure(redis_url: str, sizes: Sequence[int], progress: Progress) -> list[Measurement]:
    client = redis.Redis.from_url(redis_url)
    results: list[Measurement] = []
    try:
        for entries in sizes:
            for baseline in BASELINES:
                result = await measure_lookup(client, entries, DIMS, queries=QUERIES, baseline=baseline)
                results.append(result)
                progress(
                    f"  semantic {entries:,} entries, baseline {baseline:g}: p50 {result['p50_ms']:.2f} ms,"
                    f" {result['mean_candidates']:,.0f} candidates, recall {result['recall']:.2f}"
                )
    finally:
        await client.aclose()
    return results


def measure(sizes: Sequence[int], progress: Progress) -> list[Measurement]:
    """Raises ``redis.RedisError`` or ``OSError`` when Redis does not answer."""
    redis_url = os.environ.get("PRISM_REDIS_URL") or _REDIS_URL
    return asyncio.run(_measure(redis_url, sizes, progress))


def table(results: Sequence[Measurement]) -> str:
    lines = [
        f"semantic cache lookup: entries per project+model scope, {DIMS} dims; {QUERIES} lookups each,"
        " at cosine 0.95 to a stored entry (threshold 0.92)",
        f"{'entries':>9}{'baseline':>10}{'p50 ms':>9}{'p99 ms':>9}{'candidates':>12}{'recall':>8}"
        f"{'Redis B/entry':>15}{'fill s':>8}",
        "-" * 80,
    ]
    lines += [
        f"{r['entries']:>9,.0f}{r['baseline']:>10.1f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
        f"{r['mean_candidates']:>12,.0f}{r['recall']:>8.2f}{r['redis_bytes_per_entry']:>15,.0f}"
        f"{r['load_seconds']:>8.1f}"
        for r in results
    ]
    lines.append(
        "baseline = mean cosine between unrelated entries (0.0 random, ~0.3 real text embeddings of one app);"
        "\ncandidates = entries compared exactly per lookup; Redis B/entry = the instance's growth per entry"
    )
    return "\n".join(lines)
