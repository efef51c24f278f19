"""Every shared/ table case under CPython (Pyodide runs the same tables in tests/edge)."""

from typing import Any

import pytest

from tests.shared.table_runner import expected, load_tables, outcome, resolve

TABLES = load_tables()
CASES = [
    pytest.param(table["function"], case, id=f"{name}-{index}")
    for name, table in TABLES.items()
    for index, case in enumerate(table["cases"])
]


def test_every_shared_module_has_a_table() -> None:
    functions = {table["function"] for table in TABLES.values()}
    assert {
        "shared.tags.parse_tags",
        "shared.session.parse_session",
        "shared.fingerprint.fingerprint",
        "shared.keys.parse_bearer",
        "shared.keys.looks_like_key",
        "shared.keys.key_hash",
        "shared.edgekv.generations_match",
    } <= functions


@pytest.mark.parametrize(("function", "case"), CASES)
def test_table_case(function: str, case: dict[str, Any]) -> None:
    assert outcome(resolve(function), case) == expected(case)
