"""The command line and the batch jobs stand in rooms of their own: no module of `api.cli`,
`api.importing` or `api.simulation` is part of an import cycle (imports inside functions and
under `if TYPE_CHECKING:` count too), and the command line imports no route module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "projections", "api")
OWN = ("api.cli", "api.importing", "api.simulation")


def module_names() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports(path, modules) - {name} for name, path in modules.items()}


def own(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in OWN)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_command_line_and_the_batch_jobs_are_in_no_import_cycle() -> None:
    edges = graph()
    assert any(own(name) for name in edges)
    assert [component for component in cycles(edges) if any(own(name) for name in component)] == []


def test_the_command_line_imports_no_route_module() -> None:
    edges = graph()
    routes = {(name, target) for name, targets in edges.items() if own(name) for target in targets
              if target == "api.routes" or target.startswith("api.routes.") or target == "api.web.routes"}
    assert routes == set()
