"""The edge: the real Worker code (edge/ + shared/) in Pyodide under Node, via ``tests/edge/local_edge.py``.

Next to the main stack it starts the fake Cloudflare API (``tests/fakes/cloudflare_api.py``, the KV
both tiers use), an origin of its own in front of the same fake provider with ``PRISM_CF_*`` pointing
at that KV (so ``prism keys create`` publishes the key's grant and a cacheable miss its answer), and
the local edge with the origin's pepper and ingest secret. Two measurements, each at 1 and 32
connections, next to the origin alone on the same request shape (the main table's rows):

- ``edge-hit``: one body, warmed through the edge with a 600 s TTL until it answers
  ``X-Prism-Edge-Cache: hit``. A hit reads the key's grant and the entry from KV (an HTTP call to the
  fake, where Workers KV is a read at the PoP) and hands its usage row to the origin after answering.
- ``edge-miss``: a fresh body per request, edge → origin → fake, with a 1 s TTL so nothing reaches KV.

The CPU of the Node process, the edge's origin and the fake KV comes from ``/proc``.
"""

import asyncio
import os
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import aiohttp

from bench import cpu
from bench.compare import Comparison
from bench.load import Load, Request
from bench.report import ms_cell
from bench.result import LoadResult, Runs
from bench.scenarios import HIT_TTL, PROMPT, SHORT_LIVED
from bench.stack import (
    HOST,
    INGEST_SECRET,
    KEY_PEPPER,
    MODEL,
    Service,
    Stack,
    StackError,
    create_key,
    free_port,
    log_tail,
    origin_service,
)
from shared import headers as h
from tests.edge.local_edge import REPO_ROOT, SERVER, LocalEdge, LocalEdgeError, node_missing
from tests.fakes import cloudflare_api as cf

PROJECT: Final = "bench-edge"
COLO: Final = "LOC"
CONNECTIONS: Final = (1, 32)
# The origin-alone rows each edge row is shown next to.
REFERENCES: Final = {"edge-hit": "cache-hit", "edge-miss": "chat"}
_WARM_SECONDS: Final = 20.0
# At or above this share of one core the Node process (one thread runs the Worker) is the bottleneck.
_SATURATED: Final = 90.0

Progress = Callable[[str], None]


def missing() -> str | None:
    """Why the local edge cannot run here, or None when it can."""
    reason = node_missing()
    if reason is not None:
        return reason
    if not (REPO_ROOT / "node_modules" / "pyodide").is_dir():
        return "the npm dependencies are not installed (`make setup` runs `npm ci`)"
    if not any((REPO_ROOT / "build" / "wheels").glob("workers_runtime_sdk-*.whl")):
        return "the workers-runtime-sdk wheel is not in build/wheels (`make setup` downloads it)"
    return None


@dataclass(frozen=True, slots=True)
class EdgeRow:
    scenario: str
    connections: int
    result: LoadResult
    node_cpu_seconds: float
    origin_cpu_seconds: float
    kv_cpu_seconds: float
    others_cores: float
    expect_hits: bool
    # Usage hand-offs (waitUntil) still running when the run ended, and those that failed so far.
    handoffs_pending: int
    handoffs_failed: int
    # The origin alone on the same request shape, from the main table (None when that row did not run).
    reference: Runs | None = None

    def per_request_us(self, seconds: float) -> float:
        return seconds * 1e6 / self.result.requests if self.result.requests else 0.0

    @property
    def node_cpu_percent(self) -> float:
        return 100 * self.node_cpu_seconds / self.result.seconds if self.result.seconds else 0.0


@dataclass(frozen=True, slots=True)
class _Edge:
    local: LocalEdge
    key: str
    origin_pid: int
    kv_pid: int
    stack: Stack
    node_pid: int = 0  # known once the local edge has started

    @property
    def url(self) -> str:
        return f"{self.local.url}/v1/chat/completions"

    @property
    def pids(self) -> tuple[int, ...]:
        return (self.node_pid, self.origin_pid, self.kv_pid, self.stack.prism_pid, self.stack.fake_pid)

    def request(self, body: Mapping[str, object], extra: Mapping[str, str], *, hits: bool) -> Request:
        headers = {"Authorization": f"Bearer {self.key}", **extra}
        return Request(
            self.url,
            body,
            headers,
            unique=not hits,
            count_cache_hits=True,
            cache_header=h.EDGE_CACHE if hits else h.CACHE,
        )


def _kv_env(kv_base: str) -> dict[str, str]:
    return {
        "PRISM_CF_API_TOKEN": cf.DEFAULT_TOKEN,
        "PRISM_CF_ACCOUNT_ID": cf.DEFAULT_ACCOUNT,
        "PRISM_CF_KV_NAMESPACE_ID": cf.DEFAULT_NAMESPACE,
        "PRISM_CF_API_BASE_URL": kv_base,
    }


def measure(
    load: Load,
    stack: Stack,
    workdir: Path,
    *,
    warmup: float,
    duration: float,
    references: Mapping[tuple[str, int], Comparison],
    progress: Progress,
) -> list[EdgeRow]:
    """Start the fake KV, an origin publishing to it and the local edge; measure; stop all three."""
    kv_port, origin_port = free_port(), free_port()
    kv_base = f"http://{HOST}:{kv_port}{cf.API_ROOT}"
    # Its own usage spool: a spool directory has one writer.
    env = {**stack.env, **_kv_env(kv_base), "PRISM_SPOOL_DIR": str(workdir / "edge-origin-spool")}
    with ExitStack() as services:
        kv = Service(
            "fake Cloudflare API",
            [sys.executable, "-m", "tests.fakes.cloudflare_api", "--host", HOST, "--port", str(kv_port)],
            stack.env,
            workdir / "cloudflare.log",
        )
        services.callback(kv.stop)
        namespace = f"{kv_base}/accounts/{cf.DEFAULT_ACCOUNT}/storage/kv/namespaces/{cf.DEFAULT_NAMESPACE}"
        kv.wait_ready(f"{namespace}/keys", {"Authorization": f"Bearer {cf.DEFAULT_TOKEN}"})
        key = create_key(env, PROJECT)  # publishes the project's key grants to the fake KV
        origin = origin_service(
            "prism serve (the edge's origin)", env, origin_port, workdir / "edge-origin.log"
        )
        services.callback(origin.stop)
        origin_url = f"http://{HOST}:{origin_port}"
        origin.wait_ready(f"{origin_url}/healthz")
        progress("  edge: starting the local edge (Pyodide boots in a few seconds)")
        local = LocalEdge(
            origin_url=origin_url,
            kv_base_url=kv_base,
            account=cf.DEFAULT_ACCOUNT,
            namespace=cf.DEFAULT_NAMESPACE,
            token=cf.DEFAULT_TOKEN,
            pepper=KEY_PEPPER,
            ingest_secret=INGEST_SECRET,
            colo=COLO,
        )
        edge = _Edge(local, key, origin.pid, kv.pid, stack)
        try:
            return asyncio.run(_measure_all(load, edge, warmup, duration, references, progress))
        except LocalEdgeError as error:
            raise StackError(str(error)) from None
        except StackError as error:
            raise StackError(f"{error}\nthe edge's origin log ends:\n{log_tail(origin.log)}") from None


async def _measure_all(
    load: Load,
    edge: _Edge,
    warmup: float,
    duration: float,
    references: Mapping[tuple[str, int], Comparison],
    progress: Progress,
) -> list[EdgeRow]:
    async with edge.local:
        node_pid = cpu.child_running(os.getpid(), SERVER.name)
        if node_pid is None:
            raise StackError("the local edge's Node process was not found among this process's children")
        edge = replace(edge, node_pid=node_pid)
        try:
            hit_body = {
                "model": MODEL,
                "messages": [{"role": "user", "content": f"edge {secrets.token_hex(6)}"}],
            }
            hit = edge.request(hit_body, HIT_TTL, hits=True)
            await _warm_until_edge_hit(edge, hit)
            miss = edge.request({"model": MODEL, "messages": PROMPT}, SHORT_LIVED, hits=False)
            rows: list[EdgeRow] = []
            for name, request in (("edge-hit", hit), ("edge-miss", miss)):
                for connections in CONNECTIONS:
                    row = await _measure_row(load, edge, name, request, connections, warmup, duration)
                    reference = references.get((REFERENCES[name], connections))
                    rows.append(replace(row, reference=reference.prism if reference else None))
                    progress(_progress_line(row))
            return rows
        except StackError as error:
            raise StackError(f"{error}\nthe local edge's output ends:\n{_tail(edge.local.lines)}") from None


def _progress_line(row: EdgeRow) -> str:
    result = row.result
    return (
        f"  {row.scenario} @{row.connections}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms,"
        f" Node {row.per_request_us(row.node_cpu_seconds):,.0f} µs CPU/req ({row.node_cpu_percent:.0f} %"
        f" of a core); other processes {row.others_cores:.2f} cores"
    )


def _tail(lines: Sequence[str], count: int = 15) -> str:
    return "\n".join(lines[-count:]) or "(no output)"


async def _warm_until_edge_hit(edge: _Edge, request: Request) -> None:
    """The first request misses at both tiers; the origin publishes the answer; then the edge hits."""
    headers = {"Content-Type": "application/json", **request.headers}
    body = request.body_template().encode()
    deadline = asyncio.get_running_loop().time() + _WARM_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            async with session.post(request.url, data=body, headers=headers) as response:
                text = await response.text()
                if response.status != 200:
                    raise StackError(f"the edge answered {response.status} on warm-up: {text[:300]}")
                if response.headers.get(h.EDGE_CACHE) == "hit":
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise StackError(f"the edge did not answer from KV within {_WARM_SECONDS:.0f} s of warm-up")
            await asyncio.sleep(0.1)


async def _measure_row(
    load: Load, edge: _Edge, name: str, request: Request, connections: int, warmup: float, duration: float
) -> EdgeRow:
    with edge.stack.fake_kept_small():
        if warmup > 0:
            await asyncio.to_thread(load.run, request, connections=connections, seconds=warmup)
        watched = (edge.node_pid, edge.origin_pid, edge.kv_pid)
        before, started = cpu.Snapshot.take(edge.pids), [cpu.process_seconds(pid) for pid in watched]
        result = await asyncio.to_thread(load.run, request, connections=connections, seconds=duration)
        node, origin, kv = (
            cpu.process_seconds(pid) - start for pid, start in zip(watched, started, strict=True)
        )
        after = cpu.Snapshot.take(edge.pids)
    stats = await edge.local.stats()
    return EdgeRow(
        name,
        connections,
        result,
        node_cpu_seconds=node,
        origin_cpu_seconds=origin,
        kv_cpu_seconds=kv,
        others_cores=cpu.others_cores(before, after),
        expect_hits=name == "edge-hit",
        handoffs_pending=int(stats["wait_until"]["pending"]),
        handoffs_failed=int(stats["wait_until"]["failed"]),
    )


# -- the report -------------------------------------------------------------------------------------------


def _triple(reference: float | None, edge: float) -> str:
    added = None if reference is None else edge - reference
    return ms_cell(reference) + ms_cell(edge) + ms_cell(added, signed=True)


_TRIPLE: Final = f"{'origin':>7}{'edge':>7}{'added':>7}"
_HEADER: Final = (
    f"{'':<10}{'':>6}  {'requests/s':^16}  {'p50 ms':^21}  {'p99 ms':^21}  {'CPU µs/req':^27}  {'others':>6}",
    f"{'scenario':<10}{'conns':>6}  {'origin':>8}{'edge':>8}  {_TRIPLE}  {_TRIPLE}  "
    f"{'node':>7}{'core':>5}{'origin':>8}{'kv':>7}  {'cores':>6}  {'failed':>6}",
)
LEGEND: Final = (
    "origin = the origin alone on the same request shape (the cache-hit and chat rows above);\n"
    "edge = through the local edge; node = the Node process running the Worker in Pyodide: µs per request\n"
    "and share of one core (Node's own threads can take it past 100 %); origin (CPU) = the edge's origin\n"
    "(usage hand-offs on a hit, the whole request on a miss); kv = the fake Cloudflare KV API (two reads\n"
    "per request: the key's grant and the entry)"
)


def table(rows: Sequence[EdgeRow]) -> str:
    lines = [
        "edge: the real Worker in Pyodide under Node (one process) → its own origin worker → the fake"
        " provider;\nKV = the fake Cloudflare API",
        *_HEADER,
    ]
    lines.append("-" * len(lines[2]))
    for row in rows:
        ref = row.reference
        lines.append(
            f"{row.scenario:<10}{row.connections:>6}  "
            f"{(f'{ref.rps:,.0f}' if ref else '-'):>8}{row.result.rps:>8,.0f}  "
            f"{_triple(ref.p50_ms if ref else None, row.result.p50_ms)}  "
            f"{_triple(ref.p99_ms if ref else None, row.result.p99_ms)}  "
            f"{row.per_request_us(row.node_cpu_seconds):>7,.0f}{row.node_cpu_percent:>4.0f}%"
            f"{row.per_request_us(row.origin_cpu_seconds):>8,.0f}"
            f"{row.per_request_us(row.kv_cpu_seconds):>7,.0f}  "
            f"{row.others_cores:>6.2f}  {row.result.failures:>6}"
        )
    return "\n".join(lines)


def notes(rows: Sequence[EdgeRow]) -> list[str]:
    lines: list[str] = []
    for row in rows:
        where = f"{row.scenario} @{row.connections}"
        hits, answers = row.result.cache_hits, row.result.requests
        if row.connections > 1 and row.node_cpu_percent >= _SATURATED:
            lines.append(
                f"note: {where}: Node used {row.node_cpu_percent:.0f} % of a core: the Worker in Pyodide is"
                f" CPU-bound at about 1 s / {row.per_request_us(row.node_cpu_seconds):,.0f} µs per request"
            )
        if row.expect_hits and hits < answers:
            lines.append(f"note: {where}: only {hits:,} of {answers:,} answers were edge hits")
        if not row.expect_hits and hits:
            lines.append(
                f"note: {where}: {hits:,} of {answers:,} answers were cache hits; meant to be misses"
            )
        if row.handoffs_pending or row.handoffs_failed:
            lines.append(
                f"note: {where}: usage hand-offs to the origin when the run ended: {row.handoffs_pending:,}"
                f" in flight, {row.handoffs_failed:,} failed so far"
            )
        if row.result.failures:
            result = row.result
            lines.append(
                f"FAILED: {where}: {result.non_2xx} non-2xx answers, {result.socket_errors} socket errors"
            )
    return lines
