"""``prism usage seed --rows N``: realistic usage rows for load tests, through the writer's insert.

Orgs and projects are created like ``prism keys create`` does (a key each, printed once); the rows
come from ``origin.usage.seed`` and go in batches through the writer's own statement
(``insert_usage_rows``), so the rollup trigger sees them exactly as it sees live traffic.
"""

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final, TextIO

from origin.cli.common import Commands, connect, positive_int
from origin.settings import Settings
from origin.stores import postgres
from origin.stores.sql import query
from origin.usage.seed import SeedProject, generate
from origin.usage.writer import insert_arguments
from shared.usage import UsageRow

BATCH: Final = 5000


class Progress:
    """One line on stderr, rewritten in place: rows done, rows per second, time left."""

    def __init__(self, total: int, out: TextIO = sys.stderr, every: float = 0.5) -> None:
        self._total, self._out, self._every = total, out, every
        self._start = self._shown = time.monotonic()
        self.done = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self._shown >= self._every or self.done >= self._total:
            self._shown = now
            self._out.write("\r" + self.line(now - self._start))
            self._out.flush()

    def line(self, elapsed: float) -> str:
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self._total - self.done) / rate if rate > 0 else 0.0
        share = self.done / self._total if self._total else 1.0
        bar = "#" * int(share * 30)
        return (
            f"[{bar:<30}] {self.done:,}/{self._total:,} rows  {rate:,.0f} rows/s  "
            f"ETA {int(left) // 60}:{int(left) % 60:02d}"
        )

    def finish(self) -> float:
        elapsed = time.monotonic() - self._start
        self._out.write("\r" + self.line(elapsed) + "\n")
        self._out.flush()
        return elapsed


async def create_projects(
    pool: postgres.Pool, settings: Settings, orgs: int, per_org: int
) -> list[SeedProject]:
    projects = []
    for org in range(1, orgs + 1):
        for number in range(1, per_org + 1):
            key, record = await postgres.create_key(
                pool,
                project=f"seed-project-{org}-{number}",
                org=f"seed-org-{org}",
                pepper=settings.key_pepper,
            )
            print(f"{record.org_name}/{record.project_name}\t{key}")
            projects.append(SeedProject(record.org_id, record.project_id, record.key_id))
    return projects


def batches(hours: Iterator[list[UsageRow]], size: int) -> Iterator[list[UsageRow]]:
    batch: list[UsageRow] = []
    for rows in hours:
        batch += rows
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def seed(
    pool: postgres.Pool,
    projects: list[SeedProject],
    rows: int,
    *,
    days: int,
    seed: int,
    end: datetime,
    progress: Progress,
) -> None:
    """Insert each batch while a thread makes the next one, one insert at a time, in time order. A
    row whose request id is already stored (a re-run: its time differs, its id does not) is left out."""
    made = batches(generate(projects, rows, end=end, days=days, seed=seed), BATCH)

    def make_next() -> tuple[list[UsageRow], list[str]] | None:
        batch = next(made, None)
        return None if batch is None else (batch, insert_arguments(batch))

    ready = make_next()
    while ready is not None:
        batch, arguments = ready
        stored = await pool.fetch(query("stored_request_ids"), [row.request_id for row in batch])
        if stored:
            present = {str(record["request_id"]) for record in stored}
            arguments = insert_arguments([row for row in batch if row.request_id not in present])
        _, ready = await asyncio.gather(
            pool.execute(query("insert_usage_rows"), *arguments), asyncio.to_thread(make_next)
        )
        progress.advance(len(batch))


async def _usage_seed(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as pool:
        projects = await create_projects(pool, settings, args.orgs, args.projects_per_org)
        progress = Progress(args.rows)
        await seed(
            pool,
            projects,
            args.rows,
            days=args.days,
            seed=args.seed,
            end=datetime.now(UTC),
            progress=progress,
        )
        elapsed = progress.finish()
    print(f"seeded {args.rows:,} rows in {elapsed:.1f} s", file=sys.stderr)
    return 0


def register(verbs: Commands) -> None:
    command = verbs.add_parser("seed", help="insert N realistic usage rows (load tests, demos)")
    command.add_argument("--rows", type=positive_int, required=True)
    command.add_argument("--days", type=positive_int, default=90, help="spread over the last N days (90)")
    command.add_argument("--orgs", type=positive_int, default=3)
    command.add_argument("--projects-per-org", dest="projects_per_org", type=positive_int, default=3)
    command.add_argument("--seed", type=int, default=1, help="the random seed: same seed, same rows")
    command.set_defaults(run=_usage_seed)
