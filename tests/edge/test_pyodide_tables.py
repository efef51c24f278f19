"""The shared/ test tables in Pyodide (the Workers runtime's Python) give CPython's outputs, case by case."""

import json
import subprocess
from typing import Any

import pytest

from tests.edge.local_edge import REPO_ROOT, node_missing
from tests.shared.table_runner import load_tables, run_all

pytestmark = pytest.mark.skipif(node_missing() is not None, reason=str(node_missing()))

RUNNER = REPO_ROOT / "scripts" / "edge-local" / "run-tables.mjs"
TABLES = load_tables()
CASES = [
    pytest.param(name, index, id=f"{name}-{index}")
    for name, table in TABLES.items()
    for index in range(len(table["cases"]))
]


@pytest.fixture(scope="module")
def pyodide_run() -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(RUNNER)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"run-tables.mjs failed (did `make setup` run?):\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def cpython_run() -> dict[str, Any]:
    return run_all()


def test_pyodide_is_the_workers_python(pyodide_run: dict[str, Any]) -> None:
    assert pyodide_run["pyodide"] == "0.28.2"
    assert pyodide_run["python"].startswith("3.13.")


def test_both_runs_replay_the_same_tables(pyodide_run: dict[str, Any], cpython_run: dict[str, Any]) -> None:
    tables = pyodide_run["tables"]
    assert {name: len(cases) for name, cases in tables.items()} == {
        name: len(cases) for name, cases in cpython_run.items()
    }


@pytest.mark.parametrize(("name", "index"), CASES)
def test_case_matches_cpython(
    name: str, index: int, pyodide_run: dict[str, Any], cpython_run: dict[str, Any]
) -> None:
    case = TABLES[name]["cases"][index]
    assert pyodide_run["tables"][name][index] == cpython_run[name][index], f"{TABLES[name]['function']}{case}"
