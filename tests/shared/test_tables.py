"""Every shared/ table case under CPython (Pyodide runs the same tables in tests/edge)."""

import ast
from pathlib import Path
from typing import Any

import pytest

from tests.shared.table_runner import covered_module, expected, load_tables, outcome, resolve

SHARED = Path(__file__).resolve().parents[2] / "shared"

TABLES = load_tables()
CASES = [
    pytest.param(table["function"], case, id=f"{name}-{index}")
    for name, table in TABLES.items()
    for index, case in enumerate(table["cases"])
]


def modules_with_code(root: Path = SHARED) -> set[str]:
    """Every ``shared`` module that defines a function or a class (``headers`` holds only names)."""
    return {
        f"shared.{path.stem}"
        for path in root.glob("*.py")
        if any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in ast.parse(path.read_text()).body)
    }


def untabled(modules: set[str], tables: dict[str, dict[str, Any]]) -> set[str]:
    return modules - {covered_module(table) for table in tables.values()}


def test_the_table_check_notices_a_module_without_a_table() -> None:
    tables = {name: table for name, table in TABLES.items() if covered_module(table) != "shared.replay"}
    assert untabled(modules_with_code(), tables) == {"shared.replay"}


def test_every_shared_module_has_a_table() -> None:
    assert "shared.usage" in modules_with_code() and "shared.headers" not in modules_with_code()
    assert untabled(modules_with_code(), TABLES) == set()


@pytest.mark.parametrize(("function", "case"), CASES)
def test_table_case(function: str, case: dict[str, Any]) -> None:
    assert outcome(resolve(function), case) == expected(case)
