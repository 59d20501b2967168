"""No import cycles in the hand-written packages.

The graph is static: every `import` and `from ... import` statement in a
module, wherever it stands (module level, inside a function, under
TYPE_CHECKING), is an edge from that module to the module it names. A
function-level import hides a cycle from the interpreter, not from the
design, so it counts.

Run as a script to print the strongly connected components and the number
of elementary cycles: `python tests/unit/test_import_cycles.py`."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where each hand-written top-level package lives (the generated `hangu`
# package is not hand-written and imports nothing of these).
SOURCE_DIRS = (ROOT / "services", ROOT / "cli", ROOT / "deploy")
PACKAGE_PREFIX = "hangu_"

Graph = dict[str, set[str]]


def _modules() -> dict[str, Path]:
    """Module name -> file, for every hangu_* package under SOURCE_DIRS."""
    out: dict[str, Path] = {}
    for base in SOURCE_DIRS:
        for pkg in sorted(base.glob(f"{PACKAGE_PREFIX}*/__init__.py")):
            for path in sorted(pkg.parent.rglob("*.py")):
                parts = list(path.relative_to(base).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of `from <level dots><name> import ...` in `module`."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(module: str, path: Path, known: set[str]) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            for alias in node.names:
                # `from pkg import sub` names the submodule when there is one.
                sub = f"{target}.{alias.name}"
                yield sub if sub in known else target


def import_graph() -> Graph:
    modules = _modules()
    known = set(modules)
    graph: Graph = {name: set() for name in modules}
    for name, path in modules.items():
        for target in _imports(name, path, known):
            # Keep edges between hand-written modules only; `import a.b.c`
            # also names the closest known ancestor when c is not a module.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm; only components with a cycle (more than one
    module, or one that imports itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def elementary_cycles(graph: Graph) -> list[list[str]]:
    """Every simple cycle, each once (listed from its smallest module)."""
    cycles: list[list[str]] = []
    for start in sorted(graph):
        # Only modules after `start` may appear, so each cycle is found once.
        _cycles_from(graph, start, [start], cycles)
    return cycles


def _cycles_from(graph: Graph, start: str, path: list[str], out: list[list[str]]) -> None:
    for w in sorted(graph[path[-1]]):
        if w == start:
            out.append(list(path))
        elif w > start and w not in path:
            path.append(w)
            _cycles_from(graph, start, path, out)
            path.pop()


def test_the_graph_sees_the_packages() -> None:
    graph = import_graph()
    assert "hangu_gateway.app" in graph and "hangu_runtime.errors" in graph
    assert "hangu_runtime.errors" in graph["hangu_gateway.errors"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert strongly_connected(graph) == []


def test_a_cycle_is_found() -> None:
    graph: Graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"d"}}
    assert strongly_connected(graph) == [["d"], ["a", "b", "c"]]
    assert elementary_cycles(graph) == [["a", "b", "c"], ["d"]]


def main() -> int:
    graph = import_graph()
    components = strongly_connected(graph)
    cycles = elementary_cycles(graph)
    edges = sum(len(v) for v in graph.values())
    print(f"{len(graph)} modules, {edges} import edges")
    print(f"{len(components)} strongly connected components, {len(cycles)} elementary cycles")
    for comp in components:
        print("  component:", ", ".join(comp))
    for cycle in cycles:
        print("  cycle:", " -> ".join([*cycle, cycle[0]]))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
