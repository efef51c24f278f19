"""Runs the shared/ test tables. Pure stdlib, so Pyodide can run the very same file.

A table is a JSON file: ``{"function": "shared.tags.parse_tags", "cases": [case, ...]}``, where a
case has ``args`` (a list), optional ``kwargs``, and either ``expect`` (the return value, JSON) or
``raises`` (the exception class name). ``outcome`` turns one call into a comparable JSON value.
"""

import importlib
import json
from pathlib import Path
from typing import Any

CASE_DIR = Path(__file__).with_name("cases")


def canonical_text(value: Any) -> str:
    """``shared.fingerprint.canonical_bytes`` as text, so a JSON table can hold its output."""
    from shared.fingerprint import canonical_bytes

    return canonical_bytes(value).decode("utf-8")


def resolve(dotted: str) -> Any:
    module_name, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def outcome(function: Any, case: dict[str, Any]) -> dict[str, Any]:
    try:
        value = function(*case["args"], **case.get("kwargs", {}))
    except Exception as error:
        return {"raises": type(error).__name__}
    return {"expect": json.loads(json.dumps(value))}


def expected(case: dict[str, Any]) -> dict[str, Any]:
    return {"raises": case["raises"]} if "raises" in case else {"expect": case.get("expect")}


def load_tables(directory: Path = CASE_DIR) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def run_all(directory: Path = CASE_DIR) -> dict[str, list[dict[str, Any]]]:
    """Every table's outcomes, in case order: what CPython and Pyodide must agree on."""
    results: dict[str, list[dict[str, Any]]] = {}
    for name, table in load_tables(directory).items():
        function = resolve(table["function"])
        results[name] = [outcome(function, case) for case in table["cases"]]
    return results


if __name__ == "__main__":
    print(json.dumps(run_all(), sort_keys=True))
