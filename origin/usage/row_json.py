"""Usage rows as JSON bytes, written by orjson from the dataclass itself: a line of the spool and the
journal, and the array ``insert_usage_rows`` reads. ``UsageRow.from_wire`` reads a line back."""

from collections.abc import Sequence
from typing import Final

import orjson

from shared.usage import UsageRow

_OPTIONS: Final = orjson.OPT_NAIVE_UTC  # a naive time is UTC, as Postgres's timestamptz takes it


def line(row: UsageRow) -> bytes:
    try:
        return orjson.dumps(row, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # an integer past 64 bits, which only the standard library writes
        return (row.to_wire() + "\n").encode()


def array(rows: Sequence[UsageRow]) -> bytes:
    try:
        return orjson.dumps(rows, option=_OPTIONS)
    except TypeError:
        return b"[" + b",".join(row.to_wire().encode() for row in rows) + b"]"
