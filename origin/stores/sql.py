"""Named SQL queries, loaded from the ``.sql`` files beside this module."""

import re
from functools import cache
from pathlib import Path
from typing import Final

QUERY_DIR: Final = Path(__file__).with_name("queries")
_NAME_LINE: Final = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse_named_queries(text: str) -> dict[str, str]:
    """Split ``-- name: x`` sections into ``{"x": "SELECT ..."}``."""
    parts = _NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip().rstrip(";")
    return queries


@cache
def queries() -> dict[str, str]:
    """Every named query in ``queries/*.sql`` (names are unique across files)."""
    found: dict[str, str] = {}
    for path in sorted(QUERY_DIR.glob("*.sql")):
        for name, body in parse_named_queries(path.read_text()).items():
            if name in found:
                raise ValueError(f"query {name!r} is defined twice ({path.name})")
            found[name] = body
    return found


def query(name: str) -> str:
    return queries()[name]
