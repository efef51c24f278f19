"""An append-only JSON-lines spool for usage rows that could not reach Postgres.

Rows are appended to ``spool.jsonl`` and fsynced. To replay, the active file is renamed to a
numbered ``replaying-<n>.jsonl`` segment, read in chunks, and deleted only once its rows are
committed; a process that dies mid-replay leaves the segment behind and it is replayed first at
the next open. Replays repeat rows, so the consumer must be idempotent.
"""

import contextlib
import fcntl
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from origin.usage import row_json
from shared.usage import UsageRow

log = logging.getLogger("prism.usage")

ACTIVE_NAME: Final = "spool.jsonl"
REJECTED_NAME: Final = "rejected.jsonl"
_LOCK_NAME: Final = ".lock"
_SEGMENT: Final = re.compile(r"^replaying-(\d+)\.jsonl$")
_BLOCK: Final = 1 << 16


class SpoolBusyError(RuntimeError):
    """Another process (or another open ``Spool``) holds this directory."""


@dataclass(frozen=True, slots=True)
class Chunk:
    rows: list[UsageRow]
    next_offset: int
    done: bool


class Spool:
    """Rows pending replay, on disk. Methods block on file I/O: call them via ``asyncio.to_thread``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.rejected_path = directory / REJECTED_NAME
        self._active = directory / ACTIVE_NAME
        self._lock = threading.Lock()
        self._lock_fd: int | None = _lock_directory(directory)
        _drop_partial_tail(self._active)
        self._active_rows = _count_lines(self._active)
        self._segments = {path: _count_lines(path) for path in _segment_paths(directory)}
        self._next_segment = max(map(_segment_number, self._segments), default=0) + 1
        self._size = self._active_rows + sum(self._segments.values())

    def size(self) -> int:
        """Rows waiting on disk, replay segments included."""
        return self._size

    def append(self, rows: Sequence[UsageRow]) -> None:
        if not rows:
            return
        data = b"".join(row_json.line(row) for row in rows)
        with self._lock:
            _append_durably(self._active, data)
            self._active_rows += len(rows)
            self._size += len(rows)

    def claim(self) -> Path | None:
        """The oldest segment to replay; the active file becomes one when no segment is left."""
        with self._lock:
            if self._segments:
                return min(self._segments, key=_segment_number)
            if self._active_rows == 0:
                return None
            segment = self._segment_from(self._active, self._active_rows)
            self._active_rows = 0
            return segment

    def adopt(self, path: Path) -> None:
        """Take over a file of rows in the spool's format (a dead writer's journal) for replay."""
        _drop_partial_tail(path)
        rows = _count_lines(path)
        with self._lock:
            if rows == 0:
                path.unlink(missing_ok=True)
                return
            self._segment_from(path, rows)
            self._size += rows

    def _segment_from(self, path: Path, rows: int) -> Path:
        """``path`` renamed into the next replay segment (the caller holds the lock)."""
        segment = self.directory / f"replaying-{self._next_segment}.jsonl"
        self._next_segment += 1
        os.rename(path, segment)
        _fsync_directory(self.directory)
        self._segments[segment] = rows
        return segment

    def read(self, segment: Path, offset: int = 0, limit: int = 1000) -> Chunk:
        """Up to ``limit`` rows from byte ``offset``; corrupt or truncated lines are skipped."""
        rows: list[UsageRow] = []
        try:
            file = segment.open("rb")
        except FileNotFoundError:
            log.warning("spool segment %s vanished before replay", segment.name)
            return Chunk(rows, offset, done=True)
        with file:
            file.seek(offset)
            while len(rows) < limit:
                start = file.tell()
                line = file.readline()
                if not line:
                    return Chunk(rows, start, done=True)
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("truncated line")
                    rows.append(UsageRow.from_wire(line))
                except ValueError:
                    log.warning("skipping a corrupt line at byte %d of spool %s", start, segment.name)
            return Chunk(rows, file.tell(), done=False)

    def commit(self, segment: Path) -> None:
        """Every row of ``segment`` is in Postgres: forget it."""
        with self._lock:
            rows = self._segments.pop(segment)
            segment.unlink(missing_ok=True)
            _fsync_directory(self.directory)
            self._size -= rows

    def reject(self, rows: Sequence[UsageRow]) -> None:
        """Set aside rows Postgres refuses; they are kept for a person, never replayed."""
        data = b"".join(row_json.line(row) for row in rows)
        with self._lock:
            _append_durably(self.rejected_path, data)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _lock_directory(directory: Path) -> int:
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolBusyError(f"usage spool {directory} is in use by another writer") from None
    return fd


def _append_durably(path: Path, data: bytes) -> None:
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            # A half-written batch would swallow the first line of the next append.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)
    if created:
        _fsync_directory(path.parent)


def _drop_partial_tail(path: Path) -> None:
    """Cut a last line left unfinished by a crash mid-write, so appends start on a fresh line."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        if end == 0 or os.pread(fd, 1, end - 1) == b"\n":
            return
        keep = end
        while keep > 0:
            start = max(0, keep - _BLOCK)
            newline = os.pread(fd, keep - start, start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            keep = start
        log.warning("spool %s ended in a truncated line (%d bytes); skipped it", path.name, end - keep)
        os.ftruncate(fd, keep)
        os.fsync(fd)
    finally:
        os.close(fd)


def _count_lines(path: Path) -> int:
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return 0
    with file:
        return sum(block.count(b"\n") for block in iter(lambda: file.read(_BLOCK), b""))


def _segment_paths(directory: Path) -> list[Path]:
    return sorted((p for p in directory.iterdir() if _SEGMENT.match(p.name)), key=_segment_number)


def _segment_number(path: Path) -> int:
    match = _SEGMENT.match(path.name)
    assert match is not None
    return int(match.group(1))


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
