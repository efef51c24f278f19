"""Single-flight: N identical concurrent requests through Prism to a slow upstream → upstream calls made.

The fake provider is told to take ``UPSTREAM_MS`` per answer (``POST /_fake/behaviour``), so the whole
round arrives while the first request is still upstream. Each round sends a fresh body N times at once,
over N connections opened beforehand; the fake's request log counts the upstream calls and Prism's
``/metrics`` the requests it served from another one's call (``prism_singleflight_coalesced_total``).
The fake's behaviour is reset afterwards, whatever happens.
"""

import asyncio
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import aiohttp

from bench.stack import CHAT_PATH, MODEL, Stack
from shared import headers as h

SIZES: Final = (50, 200)
ROUNDS: Final = 3
UPSTREAM_MS: Final = 200
COALESCED_METRIC: Final = "prism_singleflight_coalesced_total"
# Long enough for every waiter to read the entry, short enough to leave nothing behind in Redis.
_HEADERS: Final = {h.CACHE_TTL: "60", "Content-Type": "application/json"}
_TIMEOUT: Final = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True, slots=True)
class Round:
    size: int
    number: int
    upstream_calls: int
    coalesced: int
    hits: int  # answered hit-exact: coalesced, or read from the entry once it had landed
    misses: int
    failed: int
    last_answer_ms: float


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    cache: str


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return Answer(response.status, response.headers.get(h.CACHE, ""))
    except (aiohttp.ClientError, TimeoutError):
        return Answer(0, "")


async def _upstream_calls(session: aiohttp.ClientSession, fake_base: str) -> int:
    async with session.get(f"{fake_base}/_fake/requests", params={"path": CHAT_PATH}) as response:
        response.raise_for_status()
        count: int = (await response.json())["count"]
        return count


async def coalesced_total(session: aiohttp.ClientSession, prism_base: str) -> float:
    async with session.get(f"{prism_base}/metrics") as response:
        response.raise_for_status()
        for line in (await response.text()).splitlines():
            name, _, value = line.partition(" ")
            if name == COALESCED_METRIC:
                return float(value)
    return 0.0


async def _open_connections(session: aiohttp.ClientSession, prism_base: str, count: int) -> None:
    """``count`` keep-alive connections in the pool, so the round itself opens none."""

    async def probe() -> None:
        async with session.get(f"{prism_base}/healthz") as response:
            await response.read()

    await asyncio.gather(*(probe() for _ in range(count)))


async def _round(stack: Stack, control: aiohttp.ClientSession, size: int, number: int) -> Round:
    prism_base = stack.prism.base
    headers = {**_HEADERS, "Authorization": stack.prism.authorization}
    content = f"single-flight {secrets.token_hex(6)} round {number}"
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": content}]}).encode()
    connector = aiohttp.TCPConnector(limit=size)
    async with aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT) as session:
        await _open_connections(session, prism_base, size)
        calls, coalesced = (
            await _upstream_calls(control, stack.fake_base),
            await coalesced_total(control, prism_base),
        )
        started = time.perf_counter()
        answers = await asyncio.gather(*(_post(session, stack.prism.url, body, headers) for _ in range(size)))
        elapsed_ms = (time.perf_counter() - started) * 1000
    return Round(
        size=size,
        number=number,
        upstream_calls=await _upstream_calls(control, stack.fake_base) - calls,
        coalesced=round(await coalesced_total(control, prism_base) - coalesced),
        hits=sum(answer.cache == "hit-exact" for answer in answers),
        misses=sum(answer.cache == "miss" for answer in answers),
        failed=sum(not 200 <= answer.status < 300 for answer in answers),
        last_answer_ms=elapsed_ms,
    )


async def _measure(stack: Stack, sizes: Sequence[int], rounds: int) -> list[Round]:
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as control:
        behaviour = {"model": "*", "latency_ms": UPSTREAM_MS}
        async with control.post(f"{stack.fake_base}/_fake/behaviour", json=behaviour) as response:
            response.raise_for_status()
        try:
            return [
                await _round(stack, control, size, number)
                for size in sizes
                for number in range(1, rounds + 1)
            ]
        finally:
            async with control.post(f"{stack.fake_base}/_fake/reset", json={}) as response:
                response.raise_for_status()


def measure(stack: Stack, sizes: Sequence[int] = SIZES, rounds: int = ROUNDS) -> list[Round]:
    return asyncio.run(_measure(stack, sizes, rounds))


def table(rounds: Sequence[Round]) -> str:
    lines = [
        f"single-flight: N identical concurrent requests through Prism, the upstream answering in"
        f" {UPSTREAM_MS} ms (a fresh body each round)",
        f"{'N':>5}{'round':>7}{'upstream calls':>16}{'coalesced':>11}{'hits':>6}{'misses':>8}{'failed':>8}"
        f"{'last answer ms':>16}",
        "-" * 77,
    ]
    lines += [
        f"{r.size:>5}{r.number:>7}{r.upstream_calls:>16}{r.coalesced:>11}{r.hits:>6}{r.misses:>8}{r.failed:>8}"
        f"{r.last_answer_ms:>16,.0f}"
        for r in rounds
    ]
    return "\n".join(lines)


def summary(rounds: Sequence[Round]) -> list[str]:
    lines: list[str] = []
    for size in sorted({r.size for r in rounds}):
        mine = [r for r in rounds if r.size == size]
        calls = sorted({r.upstream_calls for r in mine})
        shown = f"{' or '.join(map(str, calls))} upstream call{'' if calls == [1] else 's'}"
        lines.append(
            f"single-flight: {size} identical concurrent requests → {shown}"
            f" ({len(mine)} rounds; coalesced {', '.join(str(r.coalesced) for r in mine)})"
        )
    lines += [
        f"FAILED: single-flight N={r.size} round {r.number}: {r.failed} of {r.size} requests failed"
        for r in rounds
        if r.failed
    ]
    return lines
