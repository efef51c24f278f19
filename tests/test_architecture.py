"""The layout's rules, checked on the source: no import circle, one runtime importer, one env reader."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "edge", "origin")
RUNTIME_MODULES = frozenset({"workers", "js", "pyodide"})


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Every module imported when ``module`` is imported (TYPE_CHECKING blocks and functions aside)."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = set(_imports(tree, name, path.name == "__init__.py"))
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    assert find_cycle(_graph()) is None


@pytest.mark.parametrize("name", sorted(_modules()))
def test_only_edge_entry_imports_the_runtime(name: str) -> None:
    path = _modules()[name]
    tree = ast.parse(path.read_text())
    imported = {target.split(".")[0] for target in _imports(tree, name, path.name == "__init__.py")}
    if name != "edge.entry":
        assert not imported & RUNTIME_MODULES


def test_only_settings_reads_the_environment() -> None:
    readers = {
        name
        for name, path in _modules().items()
        if "os.environ" in path.read_text() or "getenv(" in path.read_text()
    }
    assert readers == {"origin.settings"}


def test_shared_imports_only_the_standard_library_and_itself() -> None:
    import sys

    for name, path in _modules().items():
        if not name.startswith("shared"):
            continue
        tree = ast.parse(path.read_text())
        for target in _imports(tree, name, path.name == "__init__.py"):
            top = target.split(".")[0]
            assert top == "shared" or top in sys.stdlib_module_names, f"{name} imports {target}"


def test_no_prism_request_header_is_read_outside_shared() -> None:
    """Both tiers read request headers through ``shared.request`` only: no tier names one itself."""
    from shared import headers as h

    names = {name for name in vars(h) if getattr(h, name) in h.REQUEST_HEADERS and name.isupper()}
    literals = {header.lower() for header in h.REQUEST_HEADERS if header.lower().startswith("x-prism-")}
    offenders = []
    for module, path in _modules().items():
        if module.startswith("shared"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr in names:
                offenders.append(f"{module}: {node.value.id}.{node.attr}")
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.lower() in literals
            ):
                offenders.append(f"{module}: {node.value!r}")
    assert names >= {"SESSION", "MODE", "TAGS", "CACHE_CONTROL"}
    assert offenders == []
