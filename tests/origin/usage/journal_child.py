"""A writer process for the journal's SIGKILL test: ``python -m tests.origin.usage.journal_child URL DIR N``
submits N rows (their ids on stdout, then ``submitted``) and waits to be killed."""

import asyncio
import sys
from pathlib import Path

from origin.stores import postgres
from origin.usage.journal import Journal
from origin.usage.spool import Spool
from origin.usage.writer import UsageWriter
from tests.origin.usage.rows import make_row


async def main(database_url: str, directory: Path, count: int) -> None:
    pool = await postgres.create_pool(database_url, min_size=0, max_size=2)
    spool = Spool(directory)
    writer = UsageWriter(pool, spool, journal=Journal(directory, segment_rows=7))
    await writer.start()
    for _ in range(count):
        row = make_row()
        writer.submit(row)
        print(row.request_id)
    print("submitted", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
