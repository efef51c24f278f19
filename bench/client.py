"""A closed-loop aiohttp load generator, run as its own process: ``python -m bench.client URL ...``.

It is the fallback when ``wrk`` is missing, and the only one that sees time to first byte. Each of
``--connections`` workers sends a request as soon as its previous answer has been read in full.
Requests completing in the ``--duration`` window after ``--warmup`` count; one JSON line goes out.
Every ``SEQUENCE_MARK`` in ``--body`` becomes the request's sequence number (unique prompts: no cache hits).
"""

import argparse
import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Final

import aiohttp

from bench.result import LoadResult, percentile
from shared import headers as h

SEQUENCE_MARK: Final = "@@SEQ@@"
CACHE_HEADER: Final = h.CACHE.lower()


@dataclass(slots=True)
class Tally:
    window_start: float
    window_end: float
    latencies: list[float] = field(default_factory=list)
    first_bytes: list[float] = field(default_factory=list)
    sequence: Iterator[int] = field(default_factory=count)
    cache_header: str = CACHE_HEADER
    non_2xx: int = 0
    socket_errors: int = 0
    cache_hits: int = 0

    def counts(self, started: float, finished: float) -> bool:
        return started >= self.window_start and finished <= self.window_end


async def _worker(
    session: aiohttp.ClientSession, url: str, body: str, headers: dict[str, str], tally: Tally
) -> None:
    while (started := time.perf_counter()) < tally.window_end:
        first: float | None = None
        data = body.replace(SEQUENCE_MARK, str(next(tally.sequence))).encode()
        try:
            async with session.post(url, data=data, headers=headers) as response:
                async for _ in response.content.iter_any():
                    if first is None:
                        first = time.perf_counter()
                status = response.status
                hit = response.headers.get(tally.cache_header, "").startswith("hit")
        except (aiohttp.ClientError, TimeoutError):
            tally.socket_errors += 1
            continue
        finished = time.perf_counter()
        if not tally.counts(started, finished):
            continue
        if not 200 <= status < 300:
            tally.non_2xx += 1
        tally.cache_hits += hit
        tally.latencies.append(finished - started)
        tally.first_bytes.append((first or finished) - started)


async def generate(
    url: str,
    body: str,
    headers: dict[str, str],
    *,
    connections: int,
    warmup: float,
    duration: float,
    cache_header: str = CACHE_HEADER,
) -> LoadResult:
    now = time.perf_counter()
    tally = Tally(window_start=now + warmup, window_end=now + warmup + duration, cache_header=cache_header)
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(_worker(session, url, body, headers, tally) for _ in range(connections)))
    latencies, first_bytes = sorted(tally.latencies), sorted(tally.first_bytes)
    return LoadResult(
        requests=len(latencies),
        seconds=duration,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        non_2xx=tally.non_2xx,
        socket_errors=tally.socket_errors,
        cache_hits=tally.cache_hits,
        ttfb_p50_ms=percentile(first_bytes, 0.50) * 1000,
        ttfb_p99_ms=percentile(first_bytes, 0.99) * 1000,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Closed-loop POST load; prints one LoadResult JSON line.")
    parser.add_argument("url")
    parser.add_argument("--body", required=True, help="the JSON request body")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=0.0)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--cache-header", default=CACHE_HEADER, help="counts answers whose value is hit…")
    args = parser.parse_args(argv)
    headers = {"Content-Type": "application/json"}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    result = asyncio.run(
        generate(
            args.url,
            args.body,
            headers,
            connections=args.connections,
            warmup=args.warmup,
            duration=args.duration,
            cache_header=args.cache_header,
        )
    )
    print(result.to_json(), flush=True)


if __name__ == "__main__":
    main()
