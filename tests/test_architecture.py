"""The architecture, checked on every run (the README's "Architecture" section states it):

- No import cycle among the modules of domain/, projections/ and api/. Every import counts:
  at the top of a module, inside a function, and under `if TYPE_CHECKING:`. A relative import
  is resolved against the importing module's package; `from pkg import name` imports the
  module pkg.name where that is a module, else pkg itself (its `__init__.py`).
- The layering: domain/ imports nothing of projections/ or api/; projections/ imports
  nothing of api/.
- No module under domain/, projections/, api/ or scripts/ is over 500 lines unless its
  module docstring says why it is one module: a line of the docstring starts with
  "Over 500 lines:" and gives the reason (the phrase "one module", as in "... is one module
  because ...", counts too).

The modules are read as text and parsed with `ast`; nothing is imported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "projections", "api")
LONG_ROOTS = (*PACKAGES, "scripts")
MAX_LINES = 500
LAYERS = {"domain": {"projections", "api"}, "projections": {"api"}}  # a layer -> what it must not import


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module, one of ours
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({module_path(self.source)}:{self.line})"


def module_files(roots: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the roots (a package is its
    `__init__.py`)."""
    found: dict[str, Path] = {}
    for root in roots:
        for path in sorted((ROOT / root).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = module_files(PACKAGES)


def module_path(name: str) -> str:
    return str(MODULES[name].relative_to(ROOT))


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def ours(name: str, modules: Collection[str]) -> str | None:
    """The module of ours `name` is, or lies in (its longest prefix that is one); None when
    it isn't ours."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(name: str) -> Iterator[Import]:
    """Every import of a module of ours by module `name`, wherever it sits in the module."""
    return imports_in(MODULES[name].read_text(encoding="utf-8"), name, is_package(name), MODULES)


def imports_in(text: str, name: str, package_init: bool, modules: Collection[str]) -> Iterator[Import]:
    """The imports of `modules` in `text`, the source of module `name` (a package's
    `__init__.py` when `package_init`)."""
    tree = ast.parse(text)
    package = name if package_init else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = ours(alias.name, modules)
                if target is not None:
                    yield Import(name, target, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, node.module] if node.module else base_parts)
            else:
                base = node.module or ""
            for alias in node.names:
                whole = f"{base}.{alias.name}"
                target = whole if alias.name != "*" and whole in modules else ours(base, modules)
                if target is not None:
                    yield Import(name, target, node.lineno)


def import_graph() -> dict[str, dict[str, Import]]:
    """Module -> the other modules of ours it imports (one import line named per pair; a
    module importing itself, as `python -m` entry points do, is no cycle)."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in MODULES}
    for name in MODULES:
        for edge in imports_of(name):
            if edge.target != name:
                graph[name].setdefault(edge.target, edge)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def a_cycle(graph: dict[str, dict[str, Import]], component: list[str]) -> list[Import]:
    """One cycle through the component's first module, as its imports (shortest first)."""
    members, start = set(component), component[0]
    came: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, edge in sorted(graph[node].items()):
                if target == start:
                    path = [edge]
                    while path[0].source != start:
                        path.insert(0, came[path[0].source])
                    return path
                if target in members and target not in came:
                    came[target] = edge
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def cycles() -> list[str]:
    graph = import_graph()
    found = []
    for component in strongly_connected(graph):
        if len(component) > 1:
            path = a_cycle(graph, component)
            found.append(" -> ".join([path[0].source, *(edge.target for edge in path)])
                         + "\n    " + "\n    ".join(str(edge) for edge in path)
                         + (f"\n    (the component: {', '.join(component)})" if len(component) > len(path) else ""))
    return found


def test_no_import_cycle_among_the_modules_of_domain_projections_and_api() -> None:
    found = cycles()
    assert not found, "import cycles:\n" + "\n".join(found)


def test_domain_imports_nothing_of_projections_or_api_and_projections_nothing_of_api() -> None:
    graph = import_graph()
    crossing = [str(edge) for name, targets in graph.items() for target, edge in targets.items()
                if target.partition(".")[0] in LAYERS.get(name.partition(".")[0], set())]
    assert not crossing, "imports against the layering:\n" + "\n".join(crossing)


def says_why_it_is_long(path: Path) -> bool:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return (re.search(r"^Over 500 lines: \S", docstring, re.MULTILINE) is not None
            or "one module" in " ".join(docstring.split()).lower())


def test_no_module_over_500_lines_without_its_docstring_saying_why() -> None:
    long = []
    for name, path in module_files(LONG_ROOTS).items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and not says_why_it_is_long(path):
            long.append(f"{path.relative_to(ROOT)}: {lines} lines ({name})")
    assert not long, (f"over {MAX_LINES} lines, and the module docstring doesn't say why "
                      '(a line starting "Over 500 lines:", or "... one module because ..."):\n' + "\n".join(long))


# --- the checks themselves, on made-up modules ---------------------------------------------------


def test_the_cycle_search_finds_a_cycle_and_names_it() -> None:
    def edge(source: str, target: str) -> Import:
        return Import(source, target, 1)

    graph = {"a": {"b": edge("a", "b")}, "b": {"c": edge("b", "c")}, "c": {"a": edge("c", "a")},
             "d": {"a": edge("d", "a")}}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["d"]]
    assert [(e.source, e.target) for e in a_cycle(graph, ["a", "b", "c"])] == [("a", "b"), ("b", "c"), ("c", "a")]


def test_every_kind_of_import_counts() -> None:
    text = """
from __future__ import annotations
from typing import TYPE_CHECKING
import json
from . import errors
from .ledger import writer
from ..projections import not_a_module_name

if TYPE_CHECKING:
    from api.services import Services


def later() -> None:
    import projections.db
"""
    modules = {"domain", "domain.example", "domain.errors", "domain.ledger", "domain.ledger.writer", "projections",
               "projections.db", "api", "api.services"}
    found = {(edge.target, edge.line) for edge in imports_in(text, "domain.example", False, modules)}
    assert found == {("domain.errors", 5), ("domain.ledger.writer", 6), ("projections", 7),
                     ("api.services", 10), ("projections.db", 14)}
