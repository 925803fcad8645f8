"""The Python modules' imports form no cycle: every import counts, lazy ones inside functions
too (a cycle that only a lazy import keeps from failing is still one). Read with ``ast``, so
nothing is imported; ``_native`` is the compiled core, not a module of this graph."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "python" / "obsagent"
NAME = PACKAGE.name


def module_name(path: Path) -> str:
    parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            base = ".".join(part for part in (base, node.module) if part)
            # `from . import x` names a submodule when there is one, else a name of the package.
            names = [alias.name for alias in node.names if alias.name != "_native"]
            targets = [f"{base}.{name}" if f"{base}.{name}" in known else base for name in names]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for child in sorted(edges[node]):
            if state.get(child) == "open":
                return [*path[path.index(child) :], child]
            if child not in state and (cycle := visit(child)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_sees_lazy_imports_and_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    edges = graph()
    assert f"{NAME}.registry" in edges[f"{NAME}.openmetrics.exposition"]  # `from ..registry import`
    assert f"{NAME}.rules" in edges[f"{NAME}.cli"]  # imported inside a function
    assert not any(f"{NAME}._native" in targets for targets in edges.values())


def test_no_import_cycle_between_modules():
    edges = graph()
    cycle = find_cycle(edges)
    listing = "\n".join(f"  {name} -> {', '.join(sorted(edges[name])) or '-'}" for name in sorted(edges))
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}\nimports:\n{listing}"
