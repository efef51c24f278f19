"""Edge rows handed to the origin: the origin's CPU per row, one row per POST against batches.

The edge's usage rows for the bench's key are posted to ``POST /internal/usage``, built and signed
with the edge's own code (``edge.ingest``), ``CONCURRENCY`` posts at a time: once a row per post (as
the edge sent them before ``edge.outbox``), once in batches of ``edge.outbox.MAX_ROWS``. The origin's
CPU time (``/proc``) from the first post until its writer has stored the last row, divided by the rows;
the rows Postgres holds are counted against those sent (every row must arrive).
"""

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import aiohttp

from bench import cpu
from bench.stack import INGEST_SECRET, Stack, StackError
from bench.usagerows import UsageRows
from edge import ingest
from edge.outbox import MAX_ROWS
from origin.settings import Settings
from origin.stores import postgres
from shared.keys import key_hash, parse_bearer
from shared.usage import CACHE_PROVIDER, HIT_EXACT_EDGE, UsageRow

ROWS: Final = 5_000
CONCURRENCY: Final = 16
ROUNDS: Final = 3  # per size; the report shows the median and the range (this machine's speed drifts)
TARGET_MICROSECONDS: Final = 50.0


@dataclass(frozen=True, slots=True)
class IngestRun:
    rows_per_post: int
    rows: int
    stored: int
    origin_cpu_seconds: float
    wall_seconds: float
    postgres_cpu_seconds: float = 0.0  # the insert's share: JSON rows are parsed there

    @property
    def microseconds_per_row(self) -> float:
        return self.origin_cpu_seconds / self.rows * 1e6

    @property
    def postgres_microseconds_per_row(self) -> float:
        return self.postgres_cpu_seconds / self.rows * 1e6


def measure(stack: Stack, rows: int = ROWS, sizes: Sequence[int] = (1, MAX_ROWS)) -> list[IngestRun]:
    return asyncio.run(_measure(stack, rows, sizes))


async def _measure(stack: Stack, rows: int, sizes: Sequence[int]) -> list[IngestRun]:
    settings = Settings.from_env(stack.env)
    hashed = key_hash(parse_bearer(stack.prism.authorization) or "", settings.key_pepper)
    pool = await postgres.create_pool(settings.database_url, max_size=1)
    try:
        record = await postgres.find_key(pool, hashed)
    finally:
        await pool.close()
    if record is None:
        raise StackError("ingest: the bench's key is not in Postgres")
    runs = []
    async with aiohttp.ClientSession() as session:
        # A warm-up round of each size first: unwarmed, the first batched round cost about half again
        # as much CPU as the rounds after it.
        for size in [*sizes, *(size for _ in range(ROUNDS) for size in sizes)]:  # interleaved: drift hits all
            counter = UsageRows.of(stack)  # counts rows made from now on
            parcels = [_parcel(hashed, record) for _ in range(rows)]
            batches = [parcels[start : start + size] for start in range(0, rows, size)]
            runs.append(await _run(session, stack, counter, batches, size))
    return runs[len(sizes) :]


def _parcel(hashed: str, record: postgres.KeyRecord) -> ingest.Parcel:
    row = UsageRow(
        org_id=record.org_id,
        project_id=record.project_id,
        key_id=record.key_id,
        request_id=str(uuid.uuid4()),
        created_at=datetime.now(UTC),
        cache_status=HIT_EXACT_EDGE,
        provider=CACHE_PROVIDER,
        model_used="bench-model",
        edge_region="LOC",
        session_id="bench-session",
        request_tags={"feature": "ingest-bench"},
        tokens_in=12,
        tokens_out=30,
        cache_saved_cents=0.0021,
    )
    return ingest.Parcel(row.request_id, ingest.envelope(hashed, row))


async def _run(
    session: aiohttp.ClientSession,
    stack: Stack,
    counter: UsageRows,
    batches: list[list[ingest.Parcel]],
    size: int,
) -> IngestRun:
    before = await asyncio.to_thread(counter.count)
    queue = list(reversed(batches))
    url = stack.prism.base + ingest.INGEST_PATH
    started, cpu_before = time.monotonic(), cpu.process_seconds(stack.prism_pid)
    postgres_before = cpu.postgres_seconds()

    async def post_all() -> None:
        while queue:
            body = ingest.batch_body(queue.pop())
            headers = ingest.signed_headers(body, int(time.time()), INGEST_SECRET)
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    raise StackError(f"ingest: the origin answered {response.status}")

    await asyncio.gather(*(post_all() for _ in range(CONCURRENCY)))
    sent = sum(len(batch) for batch in batches)
    stored = await asyncio.to_thread(counter.settled, before + sent) - before
    cpu_seconds = cpu.process_seconds(stack.prism_pid) - cpu_before
    postgres_seconds = cpu.postgres_seconds() - postgres_before
    return IngestRun(size, sent, stored, cpu_seconds, time.monotonic() - started, postgres_seconds)


def medians(runs: Sequence[IngestRun]) -> list[IngestRun]:
    """Per post size, in the order first run, the run of median origin CPU per row."""
    chosen = []
    for size in dict.fromkeys(run.rows_per_post for run in runs):
        ordered = sorted((run for run in runs if run.rows_per_post == size), key=_cost)
        chosen.append(ordered[(len(ordered) - 1) // 2])
    return chosen


def _cost(run: IngestRun) -> float:
    return run.microseconds_per_row


def table(runs: Sequence[IngestRun]) -> str:
    lines = [
        f"edge rows into the origin: {runs[0].rows:,} rows per run, {CONCURRENCY} posts at a time, "
        "median of each size's runs (range)",
        f"{'rows/post':>10}{'origin CPU µs/row':>26}{'Postgres µs/row':>17}{'rows/s':>10}{'stored':>9}",
        "-" * 72,
    ]
    for median in medians(runs):
        costs = [_cost(run) for run in runs if run.rows_per_post == median.rows_per_post]
        spread = f"{median.microseconds_per_row:,.0f} ({min(costs):,.0f}-{max(costs):,.0f})"
        lines.append(
            f"{median.rows_per_post:>10}{spread:>26}{median.postgres_microseconds_per_row:>17,.0f}"
            f"{median.rows / median.wall_seconds:>10,.0f}{median.stored:>9,}"
        )
    return "\n".join(lines)


def notes(runs: Sequence[IngestRun]) -> list[str]:
    lines = []
    for run in medians(runs):
        if run.rows_per_post > 1:
            met = "met" if run.microseconds_per_row <= TARGET_MICROSECONDS else "MISSED"
            lines.append(
                f"target: origin CPU per edge row in batches of {run.rows_per_post}"
                f" ≤ {TARGET_MICROSECONDS:.0f} µs: {run.microseconds_per_row:,.0f} µs, the median ({met})"
            )
    for run in runs:
        if run.stored != run.rows:
            lines.append(
                f"ROWS LOST: {run.rows - run.stored:,} of {run.rows:,} rows sent {run.rows_per_post} per post"
            )
    return lines
