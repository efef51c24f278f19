"""The usage journal: each row the writer queues is handed to the kernel at once, so that a process
killed before the row's batch reached Postgres or the spool loses nothing.

A row is appended to ``journal-<n>.jsonl`` in the spool's directory with one ``write(2)`` when it is
submitted, before its request's response is sent. There is no fsync: the kernel keeps what a killed
process wrote (SIGKILL, an OOM kill, a crash), and a machine that loses power loses at most the rows
of the writer's last batch, as without the journal. A segment is deleted (or, being the one written to,
truncated) once every row in it is in Postgres or the fsynced spool. Segments a dead process left
behind are handed to the spool when the next writer opens the directory (``UsageWriter.start``), and
replayed from there: the insert is idempotent, so rows that had reached Postgres too are counted once.
"""

import logging
import os
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from origin.usage import row_json
from shared.usage import UsageRow

log = logging.getLogger("prism.usage")

SEGMENT_ROWS: Final = 2000
_SEGMENT: Final = re.compile(r"^journal-(\d+)\.jsonl$")


@dataclass(slots=True)
class _Segment:
    path: Path
    first: int  # the writer's sequence number of its first row
    end: int  # one past its last row's


class Journal:
    """Rows in the kernel until they are durable elsewhere. Not thread-safe: the event loop's alone."""

    def __init__(self, directory: Path, *, segment_rows: int = SEGMENT_ROWS) -> None:
        self.directory = directory
        self._segment_rows = segment_rows
        numbers = sorted(int(m.group(1)) for p in directory.iterdir() if (m := _SEGMENT.match(p.name)))
        self.leftovers = [directory / f"journal-{number}.jsonl" for number in numbers]  # a dead writer's
        self._next_number = max(numbers, default=0) + 1
        self._closed: deque[_Segment] = deque()
        self._current: _Segment | None = None
        self._fd: int | None = None
        self._failing = False

    def append(self, sequence: int, row: UsageRow) -> None:
        """Write the row (the writer's ``sequence``-th); never raises: the row is still queued."""
        try:
            if self._current is None or self._current.end - self._current.first >= self._segment_rows:
                self._rotate(sequence)
            assert self._fd is not None and self._current is not None
            data = row_json.line(row)
            if os.write(self._fd, data) != len(data):
                raise OSError("short write")
            self._current.end = sequence + 1
            self._failing = False
        except OSError as error:
            if not self._failing:
                log.error("usage journal write failed (%s); rows are only in memory until stored", error)
            self._failing = True

    def release(self, durable_before: int) -> None:
        """Every row before sequence ``durable_before`` is in Postgres or the spool: forget them."""
        try:
            while self._closed and self._closed[0].end <= durable_before:
                self._closed[0].path.unlink(missing_ok=True)
                self._closed.popleft()
            current = self._current
            if current is not None and self._fd is not None and current.first < current.end <= durable_before:
                os.ftruncate(self._fd, 0)
                current.first = current.end
        except OSError as error:  # kept rows are replayed idempotently: only disk space is at stake
            log.warning("usage journal not trimmed (%s)", error)

    def close(self) -> None:
        """Stop writing; a segment with no row left to keep is removed, any other stays for the next start."""
        self._close_current()
        if self._current is not None and self._current.end == self._current.first:
            self._current.path.unlink(missing_ok=True)
        self._current = None

    def _close_current(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _rotate(self, sequence: int) -> None:
        if self._current is not None:
            self._closed.append(self._current)
            self._current = None  # kept once, even if the next segment cannot be opened
        self._close_current()
        path = self.directory / f"journal-{self._next_number}.jsonl"
        self._next_number += 1
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        self._current = _Segment(path, sequence, sequence)
