"""No two modules of facetrove.* import each other, directly or round a longer circle.

The whole installed package is walked with ``ast`` (through the facetrove/agent, ... links).
An edge is every import a module states, at its top or inside a function: a function-local
import that closes a circle is still a circle, only deferred to the first call. Two kinds of
import are left out, on purpose:

- imports under ``if TYPE_CHECKING:``, which never run;
- the parent packages Python initialises on the way to a module (``import a.b.c`` runs
  ``a/__init__`` and ``a/b/__init__``): counting them would flag every package whose
  ``__init__`` re-exports its submodules. A submodule that imports its own package's
  ``__init__`` by name is still an edge, and so still caught.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "facetrove"


def _modules() -> dict[str, Path]:
    """``facetrove.agent.capture.source`` -> its file, following the package's symlinks."""
    found: dict[str, Path] = {}
    base = ROOT / PACKAGE
    for folder, dirs, files in os.walk(base, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__"))]
        rel = Path(folder).relative_to(base)
        if "__init__.py" not in files and rel != Path("."):
            dirs[:] = []
            continue
        parts = [PACKAGE, *rel.parts]
        for name in files:
            if not name.endswith(".py"):
                continue
            stem = name.removesuffix(".py")
            module = ".".join(parts if stem == "__init__" else [*parts, stem])
            found[module] = Path(folder) / name
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    out: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _targets(
    module: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]
) -> set[str]:
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    out = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in known:
            out.add(sub)  # `from pkg import submodule`
        elif base in known:
            out.add(base)
    return out


def import_graph() -> dict[str, set[str]]:
    """Each facetrove module -> the facetrove modules it imports (without itself)."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in _import_nodes(tree):
            edges |= _targets(module, path, node, known)
        graph[module] = edges - {module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_the_walk_sees_the_whole_package() -> None:
    graph = import_graph()
    assert "facetrove.agent.runner" in graph and "facetrove.collector.store" in graph
    assert "facetrove.wire" in graph["facetrove.agent.capture.pipeline"]
    assert "facetrove.agent.capture.source" in graph["facetrove.agent.capture.open_source"]


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}}
    assert sorted(circles(graph)) == [["a", "b", "c"], ["e", "f"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_round_a_circle() -> None:
    graph = import_graph()
    found = circles(graph)
    described = [" <-> ".join(group) for group in found]
    assert not found, "import circles in facetrove.*:\n" + "\n".join(described)
