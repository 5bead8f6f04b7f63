"""The import graph of the installed package: no cycle, and robot tasks apart from runners.

Every import statement counts, also those inside functions (a lazy import still ties two
modules together); imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Import name of each source folder (pyproject.toml's package-dir).
ROOTS = {"rt_avg": REPO / "rt_avg", "rt_avg.actors": REPO / "actors",
         "rt_avg.envs": REPO / "envs", "rt_avg.configs": REPO / "configs"}
RUNNERS = ("rt_avg.run", "rt_avg.realtime", "rt_avg.actors", "rt_avg.baselines",
           "rt_avg.sweeps", "rt_avg.bench", "rt_avg.cli", "rt_avg.api")


def _modules() -> dict[str, Path]:
    found = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of this package it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
        while stack:
            for node in ast.iter_child_nodes(stack.pop()):
                if _is_type_checking(node):
                    continue
                stack.append(node)
                if isinstance(node, ast.Import):
                    graph[module] |= {a.name for a in node.names if a.name in modules}
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                        base = f"{anchor}.{base}" if base else anchor
                    for alias in node.names:
                        target = f"{base}.{alias.name}"
                        if target in modules:
                            graph[module].add(target)
                        elif base in modules:
                            graph[module].add(base)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert "rt_avg.api" in graph["rt_avg.cli"]  # imported inside cmd_train
    assert "rt_avg.actors.driver" in graph["rt_avg.api"]  # inside run_config
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_robot_tasks_import_no_runner() -> None:
    graph = import_graph()
    bad = {}
    for module in graph:
        if module.startswith("rt_avg.envs"):
            runners = sorted(m for m in reachable(graph, module)
                             if any(m == r or m.startswith(r + ".") for r in RUNNERS))
            if runners:
                bad[module] = runners
    assert bad == {}
